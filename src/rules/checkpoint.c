/*
 * Checkpoints: signed statements of a node's head after each sync session, and the check that
 * one node's statements never fork.
 */
#include "twin/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "twin/membership.h"
#include "twin/error.h"
#include "base/util.h"
#include "twin/sshsig.h"

#define CHECKPOINTS_FILE "checkpoints"
#define ARMOR_BEGIN      "-----BEGIN SSH SIGNATURE-----"
#define ARMOR_END        "-----END SSH SIGNATURE-----"

int twin_checkpoint_make(struct twin_checkpoint *out, twin_node *n,
                         const unsigned char peer[static TWIN_PUBKEY_BYTES], const git_oid *head)
{
    char signer_text[TWIN_OPENSSH_PUB_MAX], peer_text[TWIN_OPENSSH_PUB_MAX];
    char head_hex[GIT_OID_HEXSZ + 1] = "none";
    memset(out, 0, sizeof(*out));
    twin_key_format_openssh(signer_text, twin_node_key(n)->pk);
    twin_key_format_openssh(peer_text, peer);
    if (head)
        git_oid_tostr(head_hex, sizeof(head_hex), head);
    int64_t now = twin_util_clock_now(); /* a statement's time has no sign */
    snprintf(out->text, sizeof(out->text),
             "twin-checkpoint 1\nnetwork %s\nsigner %s\npeer %s\nhead %s\ntime %" PRId64 "\n",
             twin_node_network_id(n), signer_text, peer_text, head_hex, now < 0 ? 0 : now);
    size_t sig_len;
    int rc = twin_sshsig_sign(&out->sig, &sig_len, twin_node_key(n), TWIN_CHECKPOINT_NAMESPACE,
                              out->text, strlen(out->text));
    if (rc == 0)
        rc = twin_checkpoint_check(out);
    if (rc) {
        free(out->sig);
        out->sig = NULL;
    }
    return rc;
}

/* The value of line "<key> <value>" at *p, advancing past it. */
static const char *take_line(char *value, size_t size, const char **p, const char *key)
{
    size_t klen = strlen(key);
    const char *nl = strchr(*p, '\n');
    if (!nl || strncmp(*p, key, klen) != 0 || (*p)[klen] != ' ')
        return NULL;
    size_t len = (size_t)(nl - *p) - klen - 1;
    if (len >= size)
        return NULL;
    memcpy(value, *p + klen + 1, len);
    value[len] = '\0';
    *p = nl + 1;
    return value;
}

int twin_checkpoint_check(struct twin_checkpoint *cp)
{
    char version[8], network[64], signer[TWIN_OPENSSH_PUB_MAX], peer[TWIN_OPENSSH_PUB_MAX];
    char head[64], when[32];
    const char *p = cp->text;
    if (!take_line(version, sizeof(version), &p, "twin-checkpoint") || strcmp(version, "1") != 0 ||
        !take_line(network, sizeof(network), &p, "network") ||
        !take_line(signer, sizeof(signer), &p, "signer") ||
        !take_line(peer, sizeof(peer), &p, "peer") || !take_line(head, sizeof(head), &p, "head") ||
        !take_line(when, sizeof(when), &p, "time") || *p)
        return twin_error(TWIN_EINVALID, "not a twin checkpoint statement (version 1)");
    if (!twin_node_network_id_valid(network))
        return twin_error(TWIN_EINVALID, "checkpoint: '%s' is not a network id", network);
    if (twin_key_parse_openssh(cp->signer, signer) || twin_key_parse_openssh(cp->peer, peer))
        return twin_error(TWIN_EINVALID, "checkpoint: a node key is not an ssh-ed25519 key");
    cp->has_head = strcmp(head, "none") != 0;
    if (cp->has_head &&
        (strlen(head) != GIT_OID_HEXSZ || strspn(head, "0123456789abcdef") != GIT_OID_HEXSZ ||
         git_oid_fromstr(&cp->head, head) < 0))
        return twin_error(TWIN_EINVALID, "checkpoint: '%s' is not a commit id", head);
    /* Decimal digits only, no sign or leading zero: one text for each time (SYNC.md 10). */
    long long t = 0;
    size_t digits = strspn(when, "0123456789");
    if (digits == 0 || when[digits] || (when[0] == '0' && digits > 1) || digits > 18)
        return twin_error(TWIN_EINVALID, "checkpoint: '%s' is not a time", when);
    for (size_t i = 0; i < digits; i++)
        t = t * 10 + (when[i] - '0');
    cp->time = t;
    snprintf(cp->network_id, sizeof(cp->network_id), "%s", network);
    unsigned char by[TWIN_PUBKEY_BYTES];
    if (!cp->sig)
        return twin_error(TWIN_EVERIFY, "checkpoint: no signature");
    int rc = twin_sshsig_verify(by, cp->sig, strlen(cp->sig), TWIN_CHECKPOINT_NAMESPACE, cp->text,
                                strlen(cp->text));
    if (rc)
        return twin_error_wrap(rc, "checkpoint signature");
    if (memcmp(by, cp->signer, TWIN_PUBKEY_BYTES) != 0)
        return twin_error(TWIN_EVERIFY, "checkpoint: signed by another key than the one it names");
    return 0;
}

void twin_checkpoint_path(char *out, size_t size, twin_node *n)
{
    snprintf(out, size, "%s/" CHECKPOINTS_FILE, twin_node_dir(n));
}

int twin_checkpoint_store(twin_node *n, const struct twin_checkpoint *cp)
{
    char path[4200];
    twin_checkpoint_path(path, sizeof(path), n);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "cannot open %s: %s", path, strerror(errno));
    size_t len = strlen(cp->text) + strlen(cp->sig) + 1;
    char *rec = malloc(len + 1);
    int rc = 0;
    if (!rec)
        rc = twin_error(TWIN_ERROR, "out of memory");
    else {
        snprintf(rec, len + 1, "%s%s\n", cp->text, cp->sig);
        /* One write under an exclusive lock: statements from concurrent sessions never mix. */
        while (flock(fd, LOCK_EX) != 0 && errno == EINTR)
            ;
        if (write(fd, rec, len) != (ssize_t)len || fsync(fd) != 0)
            rc = twin_error(TWIN_ERROR, "cannot write %s: %s", path, strerror(errno));
    }
    free(rec);
    close(fd);
    return rc;
}

void twin_checkpoint_free(struct twin_checkpoint *cps, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(cps[i].sig);
    free(cps);
}

int twin_checkpoint_read(struct twin_checkpoint **out, size_t *count, const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    *count = 0;
    int rc = twin_util_read_file(&buf, &len, path, TWIN_CHECKPOINT_FILE_MAX);
    if (rc)
        return rc;
    if (strlen(buf) != len) {
        free(buf);
        return twin_error(TWIN_EINVALID, "%s: not a checkpoints file (it holds NUL bytes)", path);
    }
    struct twin_checkpoint *cps = NULL;
    size_t n = 0, cap = 0;
    const char *p = buf;
    while (rc == 0 && *p) {
        const char *begin = strstr(p, ARMOR_BEGIN "\n");
        const char *end = begin ? strstr(begin, ARMOR_END) : NULL;
        if (!begin || !end || (size_t)(begin - p) > TWIN_CHECKPOINT_TEXT_MAX) {
            rc = twin_error(TWIN_EINVALID, "%s: statement %zu has no signature after it", path,
                            n + 1);
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct twin_checkpoint *m = ncap <= TWIN_CHECKPOINT_COUNT_MAX
                                            ? twin_util_realloc_array(cps, ncap, sizeof(*cps))
                                            : NULL;
            if (!m) {
                rc = twin_error(TWIN_ELIMIT, "%s: too many statements", path);
                break;
            }
            cps = m;
            cap = ncap;
        }
        struct twin_checkpoint *cp = &cps[n];
        memset(cp, 0, sizeof(*cp));
        memcpy(cp->text, p, (size_t)(begin - p));
        cp->text[begin - p] = '\0';
        size_t sig_len = (size_t)(end - begin) + strlen(ARMOR_END);
        if (!(cp->sig = strndup(begin, sig_len))) {
            rc = twin_error(TWIN_ERROR, "out of memory");
            break;
        }
        snprintf(cp->source, sizeof(cp->source), "%s, statement %zu", path, n + 1);
        n++;
        if ((rc = twin_checkpoint_check(cp)))
            rc = twin_error_wrap(rc, "%s", cp->source);
        p = end + strlen(ARMOR_END);
        while (*p == '\n' || *p == '\r')
            p++;
    }
    free(buf);
    if (rc) {
        twin_checkpoint_free(cps, n);
        return rc;
    }
    *out = cps;
    *count = n;
    return 0;
}

/* Whether a is b or an ancestor of b: 1 yes, 0 no, -1 a commit is unknown here. */
static int on_line(git_repository *repo, const git_oid *a, const git_oid *b)
{
    git_odb *odb = NULL;
    int known =
        git_repository_odb(&odb, repo) == 0 && git_odb_exists(odb, a) && git_odb_exists(odb, b);
    git_odb_free(odb);
    if (!known)
        return -1;
    return git_oid_equal(a, b) || git_graph_descendant_of(repo, b, a) == 1;
}

/* A statement with where its head stands: `depth` grows along every line of history (it is the
 * number of commits the head holds, less a constant), so a chain of heads sorts in its order. */
struct placed {
    const struct twin_checkpoint *cp;
    int64_t depth;
};

/* Orders placed statements by signer, then depth, then place. */
static int by_signer_depth(const void *x, const void *y)
{
    const struct placed *a = x, *b = y;
    int c = memcmp(a->cp->signer, b->cp->signer, TWIN_PUBKEY_BYTES);
    if (c)
        return c;
    if (a->depth != b->depth)
        return a->depth < b->depth ? -1 : 1;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}

static const char *who(char *out, size_t size, const struct twin_membership *m,
                       const unsigned char key[TWIN_PUBKEY_BYTES])
{
    enum twin_key_state state;
    const struct twin_member *mem = m ? twin_membership_find_key(m, key, &state) : NULL;
    char id[TWIN_NODE_ID_LEN + 1];
    twin_key_node_id(id, key);
    snprintf(out, size, "%s (node %.16s)", mem ? mem->org_id : "a node that is not a member", id);
    return out;
}

static int add_finding(struct twin_checkpoint_finding **out, size_t *count, size_t *cap,
                       const struct twin_checkpoint_finding *f)
{
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct twin_checkpoint_finding *m = twin_util_realloc_array(*out, ncap, sizeof(*m));
        if (!m)
            return twin_error(TWIN_ERROR, "out of memory");
        *out = m;
        *cap = ncap;
    }
    (*out)[(*count)++] = *f;
    return 0;
}

int twin_checkpoint_audit(struct twin_checkpoint_finding **out, size_t *count, twin_node *n,
                          const struct twin_checkpoint *cps, size_t ncps)
{
    git_repository *repo = twin_node_repo(n);
    struct twin_membership *m = NULL;
    git_oid head;
    git_commit *hc = NULL;
    git_tree *tree = NULL;
    size_t cap = 0;
    int rc = 0;
    *out = NULL;
    *count = 0;
    if (twin_node_head(&head, n) == 0 && git_commit_lookup(&hc, repo, &head) == 0 &&
        git_commit_tree(&tree, hc) == 0)
        twin_membership_load(&m, repo, tree);
    twin_error_clear();
    for (size_t i = 0; rc == 0 && i < ncps; i++) {
        struct twin_checkpoint_finding f = {0};
        char w[200];
        f.a = f.b = i;
        if (strcmp(cps[i].network_id, twin_node_network_id(n)) != 0) {
            f.kind = TWIN_CP_OTHER_NETWORK;
            snprintf(f.text, sizeof(f.text), "%s: a statement for network %s, not this one",
                     cps[i].source, cps[i].network_id);
            rc = add_finding(out, count, &cap, &f);
            continue;
        }
        if (cps[i].has_head && on_line(repo, &cps[i].head, &cps[i].head) < 0) {
            f.kind = TWIN_CP_UNKNOWN_HEAD;
            snprintf(f.text, sizeof(f.text),
                     "%s: %s stated head %s, which this node does not have (sync first; if no "
                     "partner has it, that node showed a history it kept from the others)",
                     cps[i].source, who(w, sizeof(w), m, cps[i].signer),
                     git_oid_tostr_s(&cps[i].head));
            rc = add_finding(out, count, &cap, &f);
        }
    }
    /* A node's branch only moves forward, so every head one signer states must lie on one line
     * of history: of any two, one contains the other. That is judged by history alone, never by
     * the times the statements carry (a clock that stepped back accuses nobody). Heads on one
     * line hold strictly more commits the later they are, so sorted by that count each must
     * contain the one before it; the first that does not is a fork (equivocation). */
    struct placed *order = ncps ? twin_util_malloc_array(ncps, sizeof(*order)) : NULL;
    if (ncps && !order)
        rc = twin_error(TWIN_ERROR, "out of memory");
    size_t nord = 0;
    git_oid local;
    bool has_local = twin_node_head(&local, n) == 0;
    twin_error_clear();
    for (size_t i = 0; rc == 0 && has_local && i < ncps; i++) {
        size_t ahead = 0, behind = 0;
        if (cps[i].has_head && strcmp(cps[i].network_id, twin_node_network_id(n)) == 0 &&
            on_line(repo, &cps[i].head, &cps[i].head) == 1 &&
            git_graph_ahead_behind(&ahead, &behind, repo, &cps[i].head, &local) == 0)
            order[nord++] = (struct placed){&cps[i], (int64_t)ahead - (int64_t)behind};
    }
    if (nord)
        qsort(order, nord, sizeof(*order), by_signer_depth);
    for (size_t j = 1; rc == 0 && j < nord; j++) {
        const struct twin_checkpoint *a = order[j - 1].cp, *b = order[j].cp;
        if (memcmp(a->signer, b->signer, TWIN_PUBKEY_BYTES) != 0)
            continue;
        if (on_line(repo, &a->head, &b->head) == 1)
            continue;
        struct twin_checkpoint_finding f = {TWIN_CP_EQUIVOCATION, (size_t)(a - cps),
                                            (size_t)(b - cps), ""};
        char w[200], pa[TWIN_NODE_ID_LEN + 1], pb[TWIN_NODE_ID_LEN + 1];
        char ha[GIT_OID_HEXSZ + 1], hb[GIT_OID_HEXSZ + 1];
        twin_key_node_id(pa, a->peer);
        twin_key_node_id(pb, b->peer);
        git_oid_tostr(ha, sizeof(ha), &a->head);
        git_oid_tostr(hb, sizeof(hb), &b->head);
        snprintf(f.text, sizeof(f.text),
                 "equivocation by %s: it signed head %.12s for node %.16s (%s) and head "
                 "%.12s for node %.16s (%s), and neither history contains the other",
                 who(w, sizeof(w), m, a->signer), ha, pa, a->source, hb, pb, b->source);
        rc = add_finding(out, count, &cap, &f);
        order[j] = order[j - 1]; /* go on comparing against the line found so far */
    }
    free(order);
    twin_membership_free(m);
    git_tree_free(tree);
    git_commit_free(hc);
    if (rc) {
        free(*out);
        *out = NULL;
        *count = 0;
    }
    return rc;
}
