/*
 * twin edit: the record's canonical JSON in $EDITOR. A rejected edit is never thrown away: the
 * user may edit again, and when they stop the file stays where it is, named on the terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fields.h"
#include "twin/error.h"
#include "twin/ops.h"

struct edit_diff {
    const json_t *before, *after;
};

/* Applies only the fields the user changed, so a concurrent change to another field survives. */
static int apply_diff(json_t *rec, void *ctx)
{
    struct edit_diff *d = ctx;
    const char *key;
    json_t *v;
    if (!json_equal(json_object_get(d->after, "id"), json_object_get(d->before, "id")) ||
        !json_equal(json_object_get(d->after, "type"), json_object_get(d->before, "type")))
        return twin_error(TWIN_EINVALID, "id and type are set by twin and cannot be edited");
    json_object_foreach((json_t *)d->after, key, v)
    {
        if (!json_equal(v, json_object_get(d->before, key)) && json_object_set(rec, key, v))
            return twin_error(TWIN_ERROR, "out of memory");
    }
    json_object_foreach((json_t *)d->before, key, v)
    {
        if (!json_object_get(d->after, key))
            json_object_del(rec, key);
    }
    return 0;
}

static int run_editor(const char *path)
{
    const char *editor = getenv("VISUAL");
    if (!editor || !editor[0])
        editor = getenv("EDITOR");
    if (!editor || !editor[0])
        editor = "vi";
    pid_t pid = fork();
    if (pid < 0)
        return twin_error(TWIN_ERROR, "cannot start the editor: %s", strerror(errno));
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exec $TWIN_EDITOR \"$1\"", "sh", path, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return twin_error(TWIN_ERROR, "waiting for the editor: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return twin_error(TWIN_EINVALID, "the editor (%s) did not finish cleanly", editor);
    return 0;
}

static bool ask_again(void)
{
    if (!isatty(STDIN_FILENO))
        return false;
    fprintf(stderr, "Edit again? [Y/n] ");
    char answer[16];
    if (!fgets(answer, sizeof(answer), stdin))
        return false;
    return answer[0] != 'n' && answer[0] != 'N';
}

int cmd_edit(struct cli *c, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error("edit", "give exactly one record id");
    char idbuf[TWIN_ID_LEN + 1];
    int code = cli_open(c);
    if (code || (code = cli_record_id(idbuf, &argv[1], c->node, NULL)))
        return code;
    json_t *before = NULL, *after = NULL;
    char *text = NULL, *edited = NULL;
    size_t len, elen;
    int rc = cli_sealed_open(&before, c->node, argv[1], "edit");
    if (rc || (rc = twin_record_canonical(&text, &len, before))) {
        json_decref(before);
        return cli_fail(rc);
    }

    const char *tmpdir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/twin-edit-%s-XXXXXX.json",
             tmpdir && tmpdir[0] ? tmpdir : "/tmp", argv[1]);
    int fd = mkstemps(path, 5);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0) {
        fprintf(stderr, "twin: cannot write %s: %s\n", path, strerror(errno));
        code = CLI_CHECK_FAILED;
        goto done;
    }
    const char *editor = getenv("VISUAL");
    if (!editor || !editor[0])
        editor = getenv("EDITOR");
    setenv("TWIN_EDITOR", editor && editor[0] ? editor : "vi", 1);
    for (;;) {
        free(edited);
        edited = NULL;
        json_decref(after);
        after = NULL;
        if ((rc = run_editor(path)) || (rc = cli_read_input(&edited, &elen, path))) {
            fprintf(stderr, "twin: %s\n", twin_error_last());
        } else if (elen == len && memcmp(edited, text, len) == 0) {
            printf("No changes.\n");
            unlink(path);
            goto done;
        } else if ((rc = twin_record_parse(&after, edited, elen)) == 0) {
            struct edit_diff d = {before, after};
            git_oid commit;
            rc = twin_ops_update(&commit, c->node, argv[1], "edit", apply_diff, &d);
            if (rc == 0) {
                printf("Changed %s in commit %.12s.\n", argv[1], git_oid_tostr_s(&commit));
                unlink(path);
                goto done;
            }
            if (rc == TWIN_EEXISTS) { /* the edit matches the current record */
                printf("No changes.\n");
                unlink(path);
                rc = 0;
                goto done;
            }
            fprintf(stderr, "twin: %s\n", twin_error_last());
        } else {
            fprintf(stderr, "twin: %s\n", twin_error_last());
        }
        if (rc != TWIN_EINVALID && rc != TWIN_ELIMIT && rc != TWIN_ENOTFOUND)
            break;
        if (!ask_again())
            break;
    }
    fprintf(stderr, "twin: nothing was written; your edit is kept in %s\n", path);
    code = rc == TWIN_EINVALID || rc == TWIN_ELIMIT ? CLI_USAGE : CLI_CHECK_FAILED;
done:
    free(text);
    free(edited);
    json_decref(before);
    json_decref(after);
    return code;
}
