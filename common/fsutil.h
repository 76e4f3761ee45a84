/* Safe opens, bounded reads, atomic durable replacement and OFD locks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define MFA_FS_NOSYNC 0x1u /* write_atomic: skip fsyncs; caller syncfs()es the batch */
#define MFA_FS_LOCKED 0x2u /* write_atomic: caller holds name's lock; one temp name per file */
#define MFA_FS_TEMP_PREFIX ".tmp." /* + name: the temp file of an MFA_FS_LOCKED write */

/* Opens the directory at the absolute path and checks it: a directory, owned by geteuid(), no
 * group/world permission bits (-EPERM), not a symlink (-ELOOP). Its ancestors too, walked from
 * "/" one openat() at a time: each a real directory (a symlink: -ELOOP), owned by root or
 * geteuid(), and not group/world writable unless sticky (-EACCES: whoever may rename an
 * ancestor may swap the whole tree under it). -EINVAL relative path or "."/".." components. */
int mfa_fs_open_dir(const char *path, int *ret_fd);

/* The same for NAME inside dir_fd; with create, mkdirat(0700) it first when missing. */
int mfa_fs_open_subdir(int dir_fd, const char *name, bool create, int *ret_fd);

/* openat(dir_fd, name, flags|O_NONBLOCK|O_NOFOLLOW|O_CLOEXEC|O_NOCTTY, mode) (so a FIFO never
 * blocks the open), then fstat: a regular file, owned by geteuid(), (st_mode & 077) == 0.
 * -ELOOP symlink, -EPERM unsafe owner/mode, -EBADFD not a regular file, else -errno. */
int mfa_fs_open_regular(int dir_fd, const char *name, int flags, mode_t mode, int *ret_fd);

/* The checks above on an open fd (check_stat: on what fstat/fstatat returned); want_dir
 * selects directory or regular file; strict_mode
 * refuses any group/world bit, otherwise only group/world write (config files are 0644). */
int mfa_fs_check_fd(int fd, bool want_dir, bool strict_mode);
int mfa_fs_check_stat(const struct stat *st, bool want_dir, bool strict_mode);

/* Reads the whole of fd into buf (NUL-terminated). -EFBIG when it holds size-1 bytes or more. */
int mfa_fs_read_fd(int fd, char *buf, size_t size, size_t *ret_len);

/* The one read path of the text files (config, state): the whole regular file fd, bounded
 * (-EFBIG as above), exactly as many bytes as fstat() said it holds (-EIO otherwise: a file
 * that cannot be read whole is never half parsed), and without a NUL byte (-EBADMSG, *ret_line
 * the line of the first one), since the text parser would stop there and ignore the rest. */
int mfa_fs_read_text(int fd, char *buf, size_t size, size_t *ret_len, unsigned *ret_line);
/* The buffer mfa_fs_read_text() needs for fd as it is now: its size + 2 (-EFBIG above max
 * bytes, -EIO when not a regular file). A login reads files of a few hundred bytes: a buffer
 * of the largest size allowed would be locked, filled and wiped for nothing (for the state
 * file, 16 KiB of sodium_malloc() memory). A file that grows after this is refused by the
 * read, as a file that changes while read always is. */
int mfa_fs_text_buffer_size(int fd, size_t max, size_t *ret_size);

/* 0 when text holds no NUL among its len bytes, else the 1-based line of the first one. */
unsigned mfa_fs_nul_line(const char *text, size_t len);

/* write(2) until all is written, retrying EINTR and short writes (atomicio). */
int mfa_fs_write_all(int fd, const void *buf, size_t len);

/* Replaces dir_fd/name atomically and durably: .tmp-<name>-<random> (O_CREAT|O_EXCL, 0600),
 * write all, fsync, renameat, fsync(dir_fd). On any failure the temp file is unlinked and the
 * old file kept. MFA_FS_NOSYNC skips both fsyncs (bulk: the caller syncfs()es before it
 * reports success). MFA_FS_LOCKED: every writer of name holds its lock, so the temp name is
 * fixed, .tmp.<name>, and one left by a writer killed before its rename is unlinked (never
 * followed) first: a crash leaves at most one temp file per name, removed by the next write. */
int mfa_fs_write_atomic(int dir_fd, const char *name, const void *buf, size_t len, unsigned flags);

/* Exclusive OFD lock (F_OFD_SETLK, fcntl) on fd, retried with backoff for at most timeout_ms.
 * Released when the last fd of that open file description closes. -ETIMEDOUT when held. */
int mfa_fs_lock(int fd, unsigned timeout_ms);

/* Which file a path named when it was looked at: every atomic replacement renames a new inode
 * in, so a different identity means different contents (the size is there for file systems
 * whose change times are coarser than two writes). */
struct mfa_fs_file_id {
	uint64_t ino;
	int64_t ctime_ns;
	int64_t size;
};

void mfa_fs_file_id_of(const struct stat *sb, struct mfa_fs_file_id *ret);
bool mfa_fs_file_id_equal(const struct mfa_fs_file_id *a, const struct mfa_fs_file_id *b);
