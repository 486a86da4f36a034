/* state.h - opening the files flypaper writes (the database and its WAL
 * files, JSON lines, compiled rules) without trusting their folder. */
#ifndef FLYPAPER_STATE_H
#define FLYPAPER_STATE_H

#include <stddef.h>
#include <sys/stat.h>

#define STATE_MODE 0640              /* every state file; umask STATE_UMASK */
#define STATE_UMASK 027
#define STATE_PATH_MAX 4096          /* longest state file path accepted */
#define STATE_MAX_LINKS 40           /* symbolic links followed in one path, as the kernel */
#define STATE_NO_STICKY 1            /* state_open_dir: a sticky folder others write is refused too */
#define STATE_REFUSE_WRITABLE 1      /* state_openat: a group- or other-writable file is refused */

/* Opens the folder that holds path, walking to it from / (or the current
 * folder's path) one name at a time, after checking that it and every
 * folder on the way can be changed by no one but the effective user and
 * root (owned by one of them; not writable by group or others unless
 * sticky; with STATE_NO_STICKY in flags, the folder itself must not be
 * writable by others at all). A symbolic link on the way is followed only
 * if root or the effective user owns it (/var/run -> /run), at most
 * STATE_MAX_LINKS of them. Fills real (realcap bytes) with the folder's symlink-free path
 * plus the file's name. Returns an O_DIRECTORY fd the caller closes, or -1
 * with a message naming the folder and the fix in err. */
int state_open_dir(const char *path, int flags, char *real, size_t realcap,
    char *err, size_t errlen);

/* Opens the folder at path itself, creating it (0750) if missing, after
 * the walk of state_open_dir to the folder that holds it: it must not be a
 * symbolic link, and no one but the effective user and root may change it
 * (STATE_NO_STICKY: files are created and removed there by name). Fills
 * real with its symlink-free path. Returns an O_DIRECTORY fd the caller
 * closes, or -1 with a message naming the folder and the fix in err. */
int state_open_folder(const char *path, char *real, size_t realcap, char *err,
    size_t errlen);

/* Opens name in dirfd with open flags (O_CREAT creates it STATE_MODE),
 * never following a symlink, and checks the open fd: a regular file with
 * one link, owned by the effective user. A file readable or writable by
 * others is narrowed to STATE_MODE, or, with STATE_REFUSE_WRITABLE in
 * how, refused when group or others may write it (someone else may have
 * written it until now). shown names the file in messages. Returns the
 * fd, or -1 with the reason in err. */
int state_openat(int dirfd, const char *name, const char *shown, int flags,
    int how, char *err, size_t errlen);

/* state_open_dir then state_openat: path opened safely. Returns the fd or
 * -1 with the reason in err. */
int state_open(const char *path, int flags, char *err, size_t errlen);

/* Checks (creating them if missing) the SQLite database at path and its
 * -wal and -shm files, which SQLite opens by name, so that SQLite then
 * finds only files of the effective user's. The folder must be writable
 * by no one else (STATE_NO_STICKY). Fills real with the path to
 * give SQLite. Returns 0, or -1 with the reason in err. */
int state_prepare_db(const char *path, char *real, size_t realcap, char *err,
    size_t errlen);

#endif
