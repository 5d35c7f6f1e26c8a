/*
 * The store's writes: a commit object signed with the node key (SSH signature, namespace "git"),
 * its text made by twin's git codec (src/git/gitfmt.c) and written loose through libgit2,
 * and the branch moved by compare-and-swap on its old value under the writer lock, with a
 * journal of each move.
 */
#include "twin/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "git/gitfmt.h"
#include "twin/error.h"
#include "twin/global.h"
#include "twin/sshsig.h"
#include "base/util.h"

int twin_store_write_commit(git_oid *out, git_repository *repo, const twin_keypair *key,
                            const char *signer_name, const char *signer_org_id,
                            const git_tree *tree, const git_commit *const *parents, size_t nparents,
                            const char *message)
{
    return twin_store_write_commit_at(out, repo, key, signer_name, signer_org_id, tree, parents,
                                      nparents, message, twin_util_commit_time_now());
}

/* The commit's text, unsigned, made by libgit2 (the baseline) or by twin's codec: the same bytes.
 * *text is malloc'd. */
static int commit_text(char **text, size_t *len, git_repository *repo, const git_signature *who,
                       const git_tree *tree, const git_commit *const *parents, size_t nparents,
                       const char *message, bool libgit2)
{
    if (libgit2) {
        git_buf buf = GIT_BUF_INIT;
        int rc = 0;
        if (git_commit_create_buffer(&buf, repo, who, who, NULL, message, tree, nparents,
                                     (const git_commit **)parents) < 0)
            rc = twin_error_git("building the commit");
        else if (!(*text = malloc(buf.size + 1)))
            rc = twin_error(TWIN_ERROR, "out of memory");
        else
            memcpy(*text, buf.ptr, (*len = buf.size) + 1);
        git_buf_dispose(&buf);
        return rc;
    }
    /* What git_commit_create_buffer checks of its arguments. */
    git_oid ids[2], *many = NULL, *parent_ids = ids;
    if (git_tree_owner(tree) != repo)
        return twin_error(TWIN_EINVALID, "building the commit: the tree is in another repository");
    if (nparents > 2 && !(parent_ids = many = calloc(nparents, sizeof(*many))))
        return twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; i < nparents; i++) {
        if (git_commit_owner(parents[i]) != repo) {
            free(many);
            return twin_error(TWIN_EINVALID,
                              "building the commit: a parent is in another repository");
        }
        parent_ids[i] = *git_commit_id(parents[i]);
    }
    int rc = twin_gitfmt_commit_text(text, len, git_tree_id(tree), parent_ids, nparents, who->name,
                                     who->email, (int64_t)who->when.time, message);
    free(many);
    return rc;
}

static int write_commit(git_oid *out, git_repository *repo, const twin_keypair *key,
                        const char *signer_name, const char *signer_org_id, const git_tree *tree,
                        const git_commit *const *parents, size_t nparents, const char *message,
                        int64_t when, bool libgit2)
{
    git_signature *who = NULL;
    git_odb *odb = NULL;
    char *text = NULL, *sig = NULL, *signed_text = NULL;
    size_t len, sig_len, signed_len;
    int rc = 0;
    /* libgit2 checks the identity (no '<' or '>', not empty) and trims it, as git does. */
    if (git_signature_new(&who, signer_name, signer_org_id, (git_time_t)when, 0) < 0) {
        rc = twin_error_git("making the commit identity");
        goto cleanup;
    }
    if ((rc = commit_text(&text, &len, repo, who, tree, parents, nparents, message, libgit2)) ||
        (rc = twin_sshsig_sign(&sig, &sig_len, key, TWIN_SSHSIG_NAMESPACE_GIT, text, len)))
        goto cleanup;
    if (libgit2) {
        /* The signature has no final newline, so libgit2 writes the header exactly as git
         * does. */
        if (git_commit_create_with_signature(out, repo, text, sig, "gpgsig") < 0)
            rc = twin_error_git("writing the signed commit");
        goto cleanup;
    }
    if ((rc = twin_gitfmt_commit_sign(&signed_text, &signed_len, text, len, sig, sig_len)))
        goto cleanup;
    if (git_repository_odb(&odb, repo) < 0 ||
        git_odb_write(out, odb, signed_text, signed_len, GIT_OBJECT_COMMIT) < 0)
        rc = twin_error_git("writing the signed commit");
cleanup:
    git_odb_free(odb);
    free(signed_text);
    free(sig);
    free(text);
    git_signature_free(who);
    return rc;
}

int twin_store_write_commit_at(git_oid *out, git_repository *repo, const twin_keypair *key,
                               const char *signer_name, const char *signer_org_id,
                               const git_tree *tree, const git_commit *const *parents,
                               size_t nparents, const char *message, int64_t when)
{
    return write_commit(out, repo, key, signer_name, signer_org_id, tree, parents, nparents,
                        message, when, false);
}

int twin_store_write_commit_libgit2(git_oid *out, git_repository *repo, const twin_keypair *key,
                                    const char *signer_name, const char *signer_org_id,
                                    const git_tree *tree, const git_commit *const *parents,
                                    size_t nparents, const char *message, int64_t when)
{
    return write_commit(out, repo, key, signer_name, signer_org_id, tree, parents, nparents,
                        message, when, true);
}

/* Appends "<old> <new>" to repo.git/twin-heads after the branch has moved: the heads twin has
 * published, which must all stay in the history (twin verify checks). Written after the move,
 * so a crash can only leave a published head out, never name one the branch did not hold. */
static void journal_head(git_repository *repo, const git_oid *old, const git_oid *new_head)
{
    char path[4096], line[2 * GIT_OID_HEXSZ + 3];
    snprintf(path, sizeof(path), "%stwin-heads", git_repository_path(repo));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char a[GIT_OID_HEXSZ + 1] = "0000000000000000000000000000000000000000", b[GIT_OID_HEXSZ + 1];
    if (old)
        git_oid_tostr(a, sizeof(a), old);
    git_oid_tostr(b, sizeof(b), new_head);
    int n = snprintf(line, sizeof(line), "%s %s\n", a, b);
    if (write(fd, line, (size_t)n) != n) {
        /* A short journal only weakens the rewrite check; the write itself has succeeded. */
    }
    close(fd);
}

/* The writer lock: flock on repo.git/twin.lock, which the kernel releases when its holder dies.
 * While twin holds it no other twin process can be inside a ref update, so a ref lock file
 * found then is the remains of a killed writer, and it is removed. Plain git does not take
 * this lock, so a ref lock younger than a second is first given that second to go away. */
int twin_store_lock(int *fd_out, git_repository *repo)
{
    char path[4096];
    snprintf(path, sizeof(path), "%stwin.lock", git_repository_path(repo));
    int rc = twin_util_flock(fd_out, path);
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s%s.lock", git_repository_path(repo), TWIN_BRANCH);
        twin_util_clear_stale_lock(path);
    }
    return rc;
}

void twin_store_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* ---- the branch moved by twin: git's loose ref and reflog formats, written as libgit2 writes
 * them, with fewer waits for the disk ------------------------------------------------------- */

/* The paths of the files of one move, under the repository's directory (which ends in '/'). */
struct move_paths {
    char ref[4096], lock[4096], heads[4096], log[4096], head_log[4096];
};

/* Reads the value of the loose ref file at path: 1 with *id set, 0 when there is no such file, 2
 * when it is a symbolic ref (its target in target when given), or an error when it cannot be
 * read or parsed (as libgit2, which takes the first 40 characters as the id when whitespace or
 * nothing follows them). */
static int read_loose(git_oid *id, char *target, size_t target_size, const char *path)
{
    char buf[512];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return twin_error(TWIN_ERROR, "cannot read %s: %s", path, strerror(errno));
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int saved = errno;
    close(fd);
    if (n < 0)
        return twin_error(TWIN_ERROR, "cannot read %s: %s", path, strerror(saved));
    buf[n] = '\0';
    if (strncmp(buf, "ref: ", 5) == 0) {
        if (target) {
            size_t len = strcspn(buf + 5, "\r\n");
            if (len >= target_size)
                len = target_size - 1;
            memcpy(target, buf + 5, len);
            target[len] = '\0';
        }
        return 2;
    }
    if (n < GIT_OID_HEXSZ || git_oid_fromstrn(id, buf, GIT_OID_HEXSZ) < 0 ||
        (buf[GIT_OID_HEXSZ] != '\0' && !isspace((unsigned char)buf[GIT_OID_HEXSZ])))
        return twin_error(TWIN_ERROR, "moving the branch: %s is not a ref file", path);
    return 1;
}

/* Looks name up in the repository's packed-refs: 1 with *id set, 0 when it is not there. */
static int read_packed(git_oid *id, git_repository *repo, const char *name)
{
    char path[4096], *text = NULL;
    size_t len, name_len = strlen(name);
    snprintf(path, sizeof(path), "%spacked-refs", git_repository_path(repo));
    int rc = twin_util_read_file(&text, &len, path, (size_t)1 << 30);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        return 0;
    }
    if (rc)
        return rc;
    int found = 0;
    /* Lines "<hex> <name>", "^<hex>" (the peeled value of the tag above) or "# ..." (traits). */
    for (char *line = text; line < text + len && !found;) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        size_t n = end ? (size_t)(end - line) : (size_t)(text + len - line);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == GIT_OID_HEXSZ + 1 + name_len && line[GIT_OID_HEXSZ] == ' ' &&
            memcmp(line + GIT_OID_HEXSZ + 1, name, name_len) == 0) {
            if (git_oid_fromstrn(id, line, GIT_OID_HEXSZ) < 0)
                rc = twin_error(TWIN_ERROR, "moving the branch: %s is damaged", path);
            found = 1;
        }
        line = end ? end + 1 : text + len;
    }
    free(text);
    return rc ? rc : found;
}

/* Whether HEAD leads to the branch, following symbolic refs as libgit2 does: only then is a move
 * of the branch logged in HEAD's reflog too. */
static bool head_is_branch(git_repository *repo)
{
    char path[4096], name[1024] = "HEAD";
    git_oid id;
    for (int depth = 0; depth < 5; depth++) {
        snprintf(path, sizeof(path), "%s%s", git_repository_path(repo), name);
        char target[1024];
        int kind = read_loose(&id, target, sizeof(target), path);
        if (kind < 0) {
            twin_error_clear();
            return false;
        }
        if (kind != 2) /* a value (HEAD detached, or the end of the chain), or nothing */
            return depth > 0 && strcmp(name, TWIN_BRANCH) == 0;
        snprintf(name, sizeof(name), "%s", target);
    }
    return strcmp(name, TWIN_BRANCH) == 0;
}

/* Whether core.logAllRefUpdates has the branch's moves logged, read as libgit2 reads it: "always"
 * or true log a branch under refs/heads/, false does not, and unset logs unless the repository
 * is bare. */
static int should_log(bool *out, git_repository *repo)
{
    static const git_configmap map[] = {{GIT_CONFIGMAP_FALSE, NULL, 0},
                                        {GIT_CONFIGMAP_TRUE, NULL, 1},
                                        {GIT_CONFIGMAP_STRING, "always", 2}};
    git_config *cfg = NULL;
    int mode = -1;
    if (git_repository_config_snapshot(&cfg, repo) < 0)
        return twin_error_git("reading the settings");
    int err = git_config_get_mapped(&mode, cfg, "core.logallrefupdates", map, 3);
    git_config_free(cfg);
    if (err == GIT_ENOTFOUND)
        mode = !git_repository_is_bare(repo);
    else if (err < 0)
        return twin_error_git("reading core.logAllRefUpdates");
    *out = mode != 0; /* 1 and 2 both log a branch under refs/heads/ */
    git_error_clear();
    return 0;
}

/* One reflog line, exactly as libgit2 writes it: "<old> <new> <name> <<email>> <time> <±hhmm>",
 * then a tab and the message, newlines in it made spaces, trailing whitespace dropped. */
static int reflog_line(char **out, size_t *out_len, const git_oid *old, const git_oid *new_head,
                       const git_signature *who, const char *message)
{
    char a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];
    git_oid_tostr(a, sizeof(a), old);
    git_oid_tostr(b, sizeof(b), new_head);
    int offset = who->when.offset;
    char sign = offset < 0 || who->when.sign == '-' ? '-' : '+';
    if (offset < 0)
        offset = -offset;
    size_t cap = 2 * GIT_OID_HEXSZ + strlen(who->name) + strlen(who->email) +
                 (message ? strlen(message) : 0) + 64;
    char *line = malloc(cap);
    if (!line)
        return twin_error(TWIN_ERROR, "out of memory");
    /* The time as libgit2 prints it: an unsigned int. */
    int n = snprintf(line, cap, "%s %s %s <%s> %u %c%02d%02d", a, b, who->name, who->email,
                     (unsigned)who->when.time, sign, offset / 60, offset % 60);
    size_t len = (size_t)n;
    if (message) {
        line[len++] = '\t';
        size_t m = strlen(message);
        memcpy(line + len, message, m);
        len += m;
        for (size_t i = 0; i + 2 < len; i++) /* libgit2 leaves the last two characters be */
            if (line[i] == '\n')
                line[i] = ' ';
    }
    while (len > 0 && isspace((unsigned char)line[len - 1]))
        len--;
    line[len++] = '\n';
    line[len] = '\0';
    *out = line;
    *out_len = len;
    return 0;
}

/* Makes the directories on the way to the file at path, from the repository's directory down:
 * *made is set when one was created. */
static int make_dirs(const char *gitdir, const char *path, bool *made)
{
    char dir[4096];
    size_t base = strlen(gitdir);
    snprintf(dir, sizeof(dir), "%s", path);
    for (char *p = dir + base; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(dir, 0777) == 0)
            *made = true;
        else if (errno != EEXIST)
            return twin_error(TWIN_ERROR, "cannot create %s: %s", dir, strerror(errno));
        *p = '/';
    }
    return 0;
}

/* fsyncs the directory holding path. */
static int sync_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    if (twin_util_sync_dir(dir) != 0)
        return twin_error(TWIN_ERROR, "cannot sync %s: %s", dir, strerror(errno));
    return 0;
}

/* Syncs the directories on the way to path, from its own up to the repository's: after
 * make_dirs created one, each new name is then on the disk. */
static int sync_new_dirs(const char *gitdir, const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    size_t base = strlen(gitdir);
    for (char *slash; (slash = strrchr(dir, '/')) && (size_t)(slash - dir) + 1 >= base;) {
        *slash = '\0';
        if (twin_util_sync_dir(dir) != 0)
            return twin_error(TWIN_ERROR, "cannot sync %s: %s", dir, strerror(errno));
        if ((size_t)(slash - dir) < base) /* that was the repository's directory */
            break;
    }
    return 0;
}

/* A reflog opened to append a line: created tells whether this opened it anew. */
struct log_file {
    int fd;
    bool created, dirs_made;
};

static int log_open(struct log_file *f, const char *gitdir, const char *path)
{
    f->created = f->dirs_made = false;
    f->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (f->fd < 0 && errno == ENOENT) {
        int rc = make_dirs(gitdir, path, &f->dirs_made);
        if (rc)
            return rc;
        f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0)
            f->created = true;
        else if (errno == EEXIST)
            f->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    }
    if (f->fd < 0)
        return twin_error(TWIN_ERROR, "cannot open %s: %s", path, strerror(errno));
    return 0;
}

static int log_append(struct log_file *f, const char *path, const char *line, size_t len)
{
    if (twin_util_write_all(f->fd, line, len) != 0)
        return twin_error(TWIN_ERROR, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

static int fsync_named(int fd, const char *path)
{
    if (fsync(fd) != 0)
        return twin_error(TWIN_ERROR, "cannot sync %s: %s", path, strerror(errno));
    return 0;
}

/* The new reflogs' names (and any directory made for them) reach the disk. */
static int log_sync_name(const struct log_file *f, const char *gitdir, const char *path)
{
    if (f->dirs_made)
        return sync_new_dirs(gitdir, path);
    return f->created ? sync_parent(path) : 0;
}

/* Moves the branch as libgit2's git_reference_create_matching does, in the same files and
 * formats: the lock refs/heads/main.lock taken with O_EXCL, the branch's value (loose, or in
 * packed-refs) compared with old under it, a line appended to the branch's reflog and, when HEAD
 * leads to the branch, to HEAD's (as core.logAllRefUpdates asks), the new value written to the
 * lock, which is then renamed over the ref. Where libgit2 syncs each file and its directory in
 * turn, this starts the writeback of the two reflogs and the lock together, syncs the three,
 * then a reflog's directory only when the reflog was created, renames the lock and syncs
 * refs/heads once: each file still reaches the disk before the ref names the new value. */
static int advance_own(git_repository *repo, const git_oid *old, const git_oid *new_head,
                       const char *reflog_message)
{
    const char *gitdir = git_repository_path(repo);
    struct move_paths *p = malloc(sizeof(*p));
    git_signature *who = NULL;
    git_odb *odb = NULL;
    struct log_file logs[2] = {{-1, false, false}, {-1, false, false}};
    const char *log_paths[2];
    char *line = NULL;
    int lock_fd = -1, rc = 0;
    bool durable = twin_global_durable(), log = false, log_head = false, locked = false;
    if (!p)
        return twin_error(TWIN_ERROR, "out of memory");
    snprintf(p->ref, sizeof(p->ref), "%s%s", gitdir, TWIN_BRANCH);
    snprintf(p->lock, sizeof(p->lock), "%s%s.lock", gitdir, TWIN_BRANCH);
    snprintf(p->heads, sizeof(p->heads), "%s%s", gitdir, TWIN_BRANCH);
    *strrchr(p->heads, '/') = '\0';
    snprintf(p->log, sizeof(p->log), "%slogs/%s", gitdir, TWIN_BRANCH);
    snprintf(p->head_log, sizeof(p->head_log), "%slogs/HEAD", gitdir);
    log_paths[0] = p->log;
    log_paths[1] = p->head_log;

    /* What libgit2 checks first: the new value is an object of the repository. */
    if (git_repository_odb(&odb, repo) < 0) {
        rc = twin_error_git("moving the branch");
        goto done;
    }
    if (!git_odb_exists(odb, new_head)) {
        char hex[GIT_OID_HEXSZ + 1];
        rc = twin_error(TWIN_ERROR, "moving the branch: %s is not in the repository",
                        git_oid_tostr(hex, sizeof(hex), new_head));
        goto done;
    }
    if ((rc = should_log(&log, repo)))
        goto done;
    /* The reflog's committer, as libgit2 takes it: user.name and user.email, else "unknown". */
    if (git_signature_default(&who, repo) < 0 &&
        git_signature_now(&who, "unknown", "unknown") < 0) {
        rc = twin_error_git("making the reflog's identity");
        goto done;
    }
    git_error_clear();

    bool made = false;
    if ((rc = make_dirs(gitdir, p->lock, &made)))
        goto done;
    if (made && durable && (rc = sync_new_dirs(gitdir, p->lock)))
        goto done;
    lock_fd = open(p->lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (lock_fd < 0) {
        rc = errno == EEXIST
                 ? twin_error(TWIN_ECONFLICT, "the branch is locked by another program (git?)")
                 : twin_error(TWIN_ERROR, "cannot create %s: %s", p->lock, strerror(errno));
        goto done;
    }
    locked = true;

    /* The compare of the compare-and-swap, under the lock. */
    git_oid current;
    int kind = read_loose(&current, NULL, 0, p->ref);
    if (kind == 0)
        kind = read_packed(&current, repo, TWIN_BRANCH);
    if (kind < 0) {
        rc = kind;
        goto done;
    }
    bool exists = kind == 1;
    if (kind == 2 || (old ? !exists || !git_oid_equal(&current, old) : exists)) {
        rc = twin_error(TWIN_ECONFLICT, "the branch moved while this change was being written");
        goto done;
    }
    if (exists && git_oid_equal(&current, new_head))
        goto done; /* already there: libgit2 writes nothing either */
    if (!exists)
        memset(&current, 0, sizeof(current));

    if (log) {
        size_t len = 0;
        log_head = head_is_branch(repo);
        if ((rc = reflog_line(&line, &len, &current, new_head, who, reflog_message)))
            goto done;
        for (int i = 0; i < 1 + log_head; i++)
            if ((rc = log_open(&logs[i], gitdir, log_paths[i])) ||
                (rc = log_append(&logs[i], log_paths[i], line, len)))
                goto done;
    }
    char value[GIT_OID_HEXSZ + 2];
    git_oid_tostr(value, sizeof(value), new_head);
    value[GIT_OID_HEXSZ] = '\n';
    if (twin_util_write_all(lock_fd, value, GIT_OID_HEXSZ + 1) != 0) {
        rc = twin_error(TWIN_ERROR, "cannot write %s: %s", p->lock, strerror(errno));
        goto done;
    }
    if (durable) {
        for (int i = 0; i < 2; i++)
            if (logs[i].fd >= 0)
                twin_util_start_writeback(logs[i].fd);
        twin_util_start_writeback(lock_fd);
        for (int i = 0; i < 2 && !rc; i++)
            if (logs[i].fd >= 0 && !(rc = fsync_named(logs[i].fd, log_paths[i])))
                rc = log_sync_name(&logs[i], gitdir, log_paths[i]);
        if (rc || (rc = fsync_named(lock_fd, p->lock)))
            goto done;
    }
    int fd = lock_fd;
    lock_fd = -1;
    if (close(fd) != 0) {
        rc = twin_error(TWIN_ERROR, "cannot write %s: %s", p->lock, strerror(errno));
        goto done;
    }
    if (rename(p->lock, p->ref) != 0) {
        rc = twin_error(TWIN_ERROR, "cannot move %s into place: %s", p->ref, strerror(errno));
        goto done;
    }
    locked = false;
    if (durable && twin_util_sync_dir(p->heads) != 0)
        rc = twin_error(TWIN_ERROR, "cannot sync %s: %s", p->heads, strerror(errno));
done:
    for (int i = 0; i < 2; i++)
        if (logs[i].fd >= 0)
            close(logs[i].fd);
    if (lock_fd >= 0)
        close(lock_fd);
    if (locked)
        unlink(p->lock);
    free(line);
    git_signature_free(who);
    git_odb_free(odb);
    free(p);
    return rc;
}

/* libgit2's way, the baseline: git_reference_create_matching (git_reference_create when the
 * branch must not exist yet), its errors told apart as twin's are. */
static int advance_libgit2(git_repository *repo, const git_oid *old, const git_oid *new_head,
                           const char *reflog_message)
{
    git_reference *ref = NULL;
    int err = old ? git_reference_create_matching(&ref, repo, TWIN_BRANCH, new_head, 1, old,
                                                  reflog_message)
                  : git_reference_create(&ref, repo, TWIN_BRANCH, new_head, 0, reflog_message);
    git_reference_free(ref);
    /* With old given, GIT_ENOTFOUND means the branch is gone: it no longer points at old. */
    if (err == GIT_EMODIFIED || err == GIT_EEXISTS || (old && err == GIT_ENOTFOUND))
        return twin_error(TWIN_ECONFLICT, "the branch moved while this change was being written");
    if (err == GIT_ELOCKED)
        return twin_error(TWIN_ECONFLICT, "the branch is locked by another program (git?)");
    if (err < 0)
        return twin_error_git("moving the branch");
    return 0;
}

int twin_store_advance_locked(git_repository *repo, const git_oid *old, const git_oid *new_head,
                              const char *reflog_message)
{
    int rc = advance_own(repo, old, new_head, reflog_message);
    if (rc == 0)
        journal_head(repo, old, new_head);
    return rc;
}

int twin_store_advance_locked_libgit2(git_repository *repo, const git_oid *old,
                                      const git_oid *new_head, const char *reflog_message)
{
    int rc = advance_libgit2(repo, old, new_head, reflog_message);
    if (rc == 0)
        journal_head(repo, old, new_head);
    return rc;
}

int twin_store_advance(git_repository *repo, const git_oid *old, const git_oid *new_head,
                       const char *reflog_message)
{
    int fd, rc = twin_store_lock(&fd, repo);
    if (rc)
        return rc;
    rc = twin_store_advance_locked(repo, old, new_head, reflog_message);
    twin_store_unlock(fd);
    return rc;
}
