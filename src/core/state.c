/* state.c - the files flypaper writes: opened without following a
 * symlink, checked on the open fd (a regular file of the effective user's,
 * one link), created 0640, in a folder that no one but the effective user
 * and root can change, reached from / one name at a time through links
 * only root or the effective user made. Nothing here works by path after the check: what
 * was checked is what is used. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The user's name for messages, or "uid N". */
static const char *state_user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *found = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &found) == 0 && found)
		snprintf(buf, len, "%s", found->pw_name);
	else
		snprintf(buf, len, "uid %lu", (unsigned long)uid);
	return buf;
}

/* Whether a folder can be changed by someone other than the effective
 * user and root: another owner, or write access for group or others
 * without the sticky bit (which stops them renaming or removing files
 * they do not own; STATE_NO_STICKY in flags refuses that too). Returns
 * 0, or -1 with the reason in err. */
static int state_check_folder(const char *dir, const struct stat *st, int flags,
    char *err, size_t errlen)
{
	uid_t me = geteuid();
	char owner[64], self[64];

	if (st->st_uid != me && st->st_uid != 0) {
		state_user_name(st->st_uid, owner, sizeof(owner));
		state_user_name(me, self, sizeof(self));
		if (me == 0)
			snprintf(err, errlen, "%s belongs to %s: root will not open files "
			    "in a folder another user controls (run with --user %s, or "
			    "use a folder owned by root)", dir, owner, owner);
		else
			snprintf(err, errlen, "%s belongs to %s: %s will not keep its "
			    "files in a folder another user controls", dir, owner, self);
		return -1;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) &&
	    (!(st->st_mode & S_ISVTX) || (flags & STATE_NO_STICKY))) {
		snprintf(err, errlen, "%s is writable by %s%s: refusing to keep "
		    "files there (chmod go-w %s, or use another folder)", dir,
		    st->st_mode & S_IWOTH ? "anyone" : "its group",
		    st->st_mode & S_ISVTX ? " (sticky, but SQLite makes files "
		    "there by name)" : "", dir);
		return -1;
	}
	return 0;
}

/* Moves *fd one step along the walk to the entry comp of the folder whose
 * symlink-free path is at (atcap bytes, "" for /). A folder is checked and
 * becomes *fd, with at extended; a symlink, if root or the effective user
 * owns it, has its target copied into link (linkcap bytes) and 1 is
 * returned. Returns 0 for a folder, 1 for a link, -1 with err filled. */
static int state_walk_step(int *fd, char *at, size_t atcap, const char *comp,
    char *link, size_t linkcap, char *err, size_t errlen)
{
	char shown[STATE_PATH_MAX], owner[64];
	struct stat st;
	ssize_t n;
	int next;

	if (strcmp(comp, "..") == 0) {
		char *up = strrchr(at, '/');
		if (!up)
			return 0;            /* /.. is / */
		*up = '\0';
		snprintf(shown, sizeof(shown), "%s", *at ? at : "/");
	} else if (snprintf(shown, sizeof(shown), "%s/%s", at, comp) >= (int)sizeof(shown) ||
	    strlen(shown) >= atcap) {
		snprintf(err, errlen, "%s: path too long", shown);
		return -1;
	}
	next = openat(*fd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (next < 0 || fstat(next, &st) < 0) {
		snprintf(err, errlen, "%s: %s", shown, strerror(errno));
		goto fail;
	}
	if (S_ISLNK(st.st_mode)) {
		/* Only its owner can change a link, and only the folder's
		 * writers replace it: this folder is checked, so a link of
		 * root's or the effective user's is theirs to have made. */
		if (st.st_uid != 0 && st.st_uid != geteuid()) {
			state_user_name(st.st_uid, owner, sizeof(owner));
			snprintf(err, errlen, "%s is a symbolic link owned by %s: refusing "
			    "to follow it (it can point anywhere; give the real path, or "
			    "remove it)", shown, owner);
			goto fail;
		}
		n = readlinkat(next, "", link, linkcap);
		if (n < 0 || (size_t)n >= linkcap) {
			snprintf(err, errlen, "%s: %s", shown, n < 0 ? strerror(errno) :
			    "link target too long");
			goto fail;
		}
		link[n] = '\0';
		close(next);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", shown, strerror(ENOTDIR));
		goto fail;
	}
	if (state_check_folder(shown, &st, 0, err, errlen) < 0)
		goto fail;
	if (strcmp(comp, "..") != 0)
		memcpy(at, shown, strlen(shown) + 1);   /* fits: checked above */
	close(*fd);
	*fd = next;
	return 0;
fail:
	if (next >= 0)
		close(next);
	return -1;
}

int state_open_dir(const char *path, int flags, char *real, size_t realcap,
    char *err, size_t errlen)
{
	char dir[STATE_PATH_MAX], todo[STATE_PATH_MAX], link[STATE_PATH_MAX];
	char at[STATE_PATH_MAX] = "", *slash, *comp, *rest;
	const char *name;
	struct stat st;
	int fd = -1, links = 0, dirfd;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	slash = strrchr(dir, '/');
	name = slash ? path + (slash - dir) + 1 : path;
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		snprintf(err, errlen, "%s: not a file name", path);
		return -1;
	}
	/* Walked one name at a time from /, by fd, never letting the kernel
	 * follow a link: every folder on the way is checked (whoever can
	 * write one can swap what lies beneath), and a link is followed only
	 * if its owner is root or the effective user. realpath() would follow
	 * a link a local user planted where the path does not exist yet, and
	 * root would then create files wherever it points. */
	if (dir[0] == '/')
		snprintf(todo, sizeof(todo), "%s", dir);
	else if ((errno = 0, !getcwd(todo, sizeof(todo))) ||
	    strlen(todo) + strlen(dir) + 2 > sizeof(todo)) {
		snprintf(err, errlen, "%s: the current folder: %s", path,
		    strerror(errno ? errno : ENAMETOOLONG));
		return -1;
	} else {
		strcat(todo, "/");
		strcat(todo, dir);
	}
	if ((fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "/: %s", strerror(errno));
		goto fail;
	}
	if (state_check_folder("/", &st, 0, err, errlen) < 0)
		goto fail;
	for (rest = todo; rest;) {
		comp = rest;
		rest = strchr(rest, '/');
		if (rest)
			*rest++ = '\0';
		if (!*comp || strcmp(comp, ".") == 0)
			continue;
		switch (state_walk_step(&fd, at, sizeof(at), comp, link, sizeof(link),
		    err, errlen)) {
		case -1:
			goto fail;
		case 0:
			continue;
		}
		if (++links > STATE_MAX_LINKS) {
			snprintf(err, errlen, "%s: more than %d symbolic links", path,
			    STATE_MAX_LINKS);
			goto fail;
		}
		/* The target, then what was left: todo again. */
		if (strlen(link) + (rest ? strlen(rest) + 1 : 0) >= sizeof(todo)) {
			snprintf(err, errlen, "%s: path too long", path);
			goto fail;
		}
		if (rest) {
			memmove(todo + strlen(link) + 1, rest, strlen(rest) + 1);
			todo[strlen(link)] = '/';
		} else {
			todo[strlen(link)] = '\0';
		}
		memcpy(todo, link, strlen(link));
		rest = todo;
		if (link[0] == '/') {
			close(fd);
			at[0] = '\0';
			if ((fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
				snprintf(err, errlen, "/: %s", strerror(errno));
				goto fail;
			}
		}
	}
	if (snprintf(real, realcap, "%s/%s", at, name) >= (int)realcap) {
		snprintf(err, errlen, "%s: path too long", path);
		goto fail;
	}
	/* The folder itself, with the caller's flags this time. */
	dirfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fstat(dirfd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", *at ? at : "/", strerror(errno));
		if (dirfd >= 0)
			close(dirfd);
		goto fail;
	}
	if (state_check_folder(*at ? at : "/", &st, flags, err, errlen) < 0) {
		close(dirfd);
		goto fail;
	}
	close(fd);
	return dirfd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int state_open_folder(const char *path, char *real, size_t realcap, char *err,
    size_t errlen)
{
	char copy[STATE_PATH_MAX];
	const char *name;
	struct stat st;
	size_t n;
	int parent, fd = -1;

	n = (size_t)snprintf(copy, sizeof(copy), "%s", path);
	if (n >= sizeof(copy)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	parent = state_open_dir(copy, 0, real, realcap, err, errlen);
	if (parent < 0)
		return -1;
	name = strrchr(real, '/') + 1;
	if (mkdirat(parent, name, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create the folder: %s", path,
		    strerror(errno));
		goto done;
	}
	/* The last name too is never followed: a link here would be the
	 * one place the walk's checks did not reach. */
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "%s is a symbolic link: refusing it (give the "
		    "folder's real path)", path);
		goto done;
	}
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (state_check_folder(real, &st, STATE_NO_STICKY, err, errlen) < 0)
		goto fail;
	goto done;
fail:
	if (fd >= 0)
		close(fd);
	fd = -1;
done:
	close(parent);
	return fd;
}

int state_openat(int dirfd, const char *name, const char *shown, int flags,
    int how, char *err, size_t errlen)
{
	struct stat st;
	char owner[64], self[64];
	int fd;

	/* O_NONBLOCK: a FIFO planted in a sticky folder must not hang us. */
	fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
	    STATE_MODE);
	if (fd < 0) {
		int saved = errno;
		if (errno == ELOOP)
			snprintf(err, errlen, "%s is a symbolic link: refusing to "
			    "follow it (remove it)", shown);
		else if (errno == EACCES &&
		    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_uid != geteuid())
			goto not_ours;
		else
			snprintf(err, errlen, "%s: %s", shown, strerror(errno));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", shown, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file: refusing it", shown);
		goto fail;
	}
	if (st.st_uid != geteuid())
		goto not_ours;
	if (st.st_nlink != 1) {
		snprintf(err, errlen, "%s has %lu names (hard links): refusing it "
		    "(it may be another file)", shown, (unsigned long)st.st_nlink);
		goto fail;
	}
	if ((how & STATE_REFUSE_WRITABLE) && (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "%s is writable by group or others: refusing it",
		    shown);
		goto fail;
	}
	if ((st.st_mode & 07777 & ~STATE_MODE) && fchmod(fd, st.st_mode & STATE_MODE) < 0) {
		snprintf(err, errlen, "%s: chmod: %s", shown, strerror(errno));
		goto fail;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		snprintf(err, errlen, "%s: %s", shown, strerror(errno));
		goto fail;
	}
	return fd;
not_ours:
	state_user_name(st.st_uid, owner, sizeof(owner));
	state_user_name(geteuid(), self, sizeof(self));
	snprintf(err, errlen, "%s is owned by %s, not by %s, which writes it: "
	    "refusing it (chown %s it, or remove it)", shown, owner, self, self);
	errno = EPERM;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int state_open(const char *path, int flags, char *err, size_t errlen)
{
	char real[STATE_PATH_MAX];
	int dirfd = state_open_dir(path, 0, real, sizeof(real), err, errlen);
	int fd;

	if (dirfd < 0)
		return -1;
	fd = state_openat(dirfd, strrchr(real, '/') + 1, path, flags, 0, err, errlen);
	close(dirfd);
	return fd;
}

int state_prepare_db(const char *path, char *real, size_t realcap, char *err,
    size_t errlen)
{
	/* SQLite creates, opens and removes these by name next to the
	 * database, so no one else may write that folder, sticky or not.
	 * Made here first, they are the user's when SQLite comes; -journal
	 * is not used in WAL mode, but one left behind is checked. */
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	int dirfd = state_open_dir(path, STATE_NO_STICKY, real, realcap, err, errlen);

	if (dirfd < 0)
		return -1;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char shown[STATE_PATH_MAX + 16];
		int create = strcmp(suffixes[i], "-journal") != 0 ? O_CREAT : 0;
		int fd;

		snprintf(shown, sizeof(shown), "%s%s", real, suffixes[i]);
		fd = state_openat(dirfd, strrchr(shown, '/') + 1, shown, O_RDWR | create,
		    0, err, errlen);
		if (fd < 0 && !create && errno == ENOENT)
			continue;
		if (fd < 0) {
			close(dirfd);
			return -1;
		}
		close(fd);
	}
	close(dirfd);
	return 0;
}
