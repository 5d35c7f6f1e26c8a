/*
 * The msgpack pre-scan and the encoders and decoders of every message type.
 */
#include "twin/msg.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "twin/error.h"

#define MSG_MAX_FIELDS  64 /* entries of the top-level message map */
#define CHECK_DEPTH_CAP 64 /* the pre-scan's own stack; limits beyond it are clamped */

const struct twin_msgpack_limits twin_msg_limits = {
    .max_size = TWIN_MSG_MAX,
    .max_depth = TWIN_MSG_MAX_DEPTH,
    .max_count = TWIN_MSG_MAX_COUNT,
    .max_objects = TWIN_MSG_MAX_OBJECTS,
    .max_str = TWIN_MSG_MAX_STR,
    .max_bin = TWIN_MSG_MAX_BIN,
};

/* --- Pre-scan --------------------------------------------------------------------------- */

static uint64_t load_be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int twin_msg_msgpack_check(const unsigned char *data, size_t len,
                           const struct twin_msgpack_limits *lim)
{
    uint64_t remaining[CHECK_DEPTH_CAP + 1];
    unsigned depth = 0;
    unsigned max_depth = lim->max_depth < CHECK_DEPTH_CAP ? lim->max_depth : CHECK_DEPTH_CAP;
    uint64_t objects = 0;
    size_t pos = 0;

    if (len > lim->max_size)
        return twin_error(TWIN_ELIMIT, "msgpack: message of %zu bytes exceeds the limit of %zu",
                          len, lim->max_size);
    if (len == 0)
        return twin_error(TWIN_EINVALID, "msgpack: empty message");

    remaining[0] = 1;
    for (;;) {
        if (remaining[depth] == 0) {
            if (depth == 0)
                break;
            depth--;
            continue;
        }
        remaining[depth]--;
        if (pos >= len)
            return twin_error(TWIN_EINVALID, "msgpack: truncated, a value is missing at offset %zu",
                              pos);
        if (++objects > lim->max_objects)
            return twin_error(TWIN_ELIMIT, "msgpack: more than %u values at offset %zu",
                              (unsigned)lim->max_objects, pos);

        size_t at = pos;
        unsigned char b = data[pos++];
        size_t avail = len - pos;
        size_t hdr = 0;   /* length bytes following the type byte */
        size_t fixed = 0; /* payload bytes of a fixed-size value */
        enum { SCALAR, STR, BIN, EXT, ARRAY, MAP } kind = SCALAR;
        uint64_t n = 0;

        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            kind = SCALAR;
        } else if (b <= 0x8f) {
            kind = MAP, n = b & 0x0f;
        } else if (b <= 0x9f) {
            kind = ARRAY, n = b & 0x0f;
        } else if (b <= 0xbf) {
            kind = STR, n = b & 0x1f;
        } else {
            switch (b) {
            case 0xc1:
                return twin_error(TWIN_EINVALID, "msgpack: reserved type byte 0xc1 at offset %zu",
                                  at);
            case 0xc4:
            case 0xc5:
            case 0xc6:
                kind = BIN, hdr = (size_t)1 << (b - 0xc4);
                break;
            case 0xc7:
            case 0xc8:
            case 0xc9:
                kind = EXT, hdr = (size_t)1 << (b - 0xc7);
                break;
            case 0xca:
                fixed = 4;
                break;
            case 0xcb:
                fixed = 8;
                break;
            case 0xcc:
            case 0xcd:
            case 0xce:
            case 0xcf:
                fixed = (size_t)1 << (b - 0xcc);
                break;
            case 0xd0:
            case 0xd1:
            case 0xd2:
            case 0xd3:
                fixed = (size_t)1 << (b - 0xd0);
                break;
            case 0xd4:
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                kind = EXT, n = (uint64_t)1 << (b - 0xd4);
                break;
            case 0xd9:
            case 0xda:
            case 0xdb:
                kind = STR, hdr = (size_t)1 << (b - 0xd9);
                break;
            case 0xdc:
            case 0xdd:
                kind = ARRAY, hdr = (size_t)2 << (b - 0xdc);
                break;
            case 0xde:
            case 0xdf:
                kind = MAP, hdr = (size_t)2 << (b - 0xde);
                break;
            }
        }
        if (hdr) {
            if (hdr > avail)
                return twin_error(TWIN_EINVALID, "msgpack: truncated length at offset %zu", at);
            n = load_be(data + pos, hdr);
            pos += hdr;
            avail -= hdr;
        }

        switch (kind) {
        case SCALAR:
            if (fixed > avail)
                return twin_error(TWIN_EINVALID, "msgpack: truncated number at offset %zu", at);
            pos += fixed;
            break;
        case STR:
            if (n > avail)
                return twin_error(TWIN_EINVALID,
                                  "msgpack: string at offset %zu declares %llu bytes but only "
                                  "%zu remain",
                                  at, (unsigned long long)n, avail);
            if (n > lim->max_str)
                return twin_error(TWIN_ELIMIT,
                                  "msgpack: string of %llu bytes at offset %zu exceeds %u",
                                  (unsigned long long)n, at, (unsigned)lim->max_str);
            if (twin_util_utf8_invalid_at(data + pos, (size_t)n) != (size_t)n)
                return twin_error(TWIN_EINVALID,
                                  "msgpack: invalid UTF-8 in string at offset %zu (byte %zu)", at,
                                  pos + twin_util_utf8_invalid_at(data + pos, (size_t)n));
            pos += (size_t)n;
            break;
        case BIN:
        case EXT:
            if (kind == EXT)
                n += 1; /* the ext type byte */
            if (n > avail)
                return twin_error(TWIN_EINVALID,
                                  "msgpack: %s at offset %zu declares %llu bytes but only %zu "
                                  "remain",
                                  kind == BIN ? "bin" : "ext", at, (unsigned long long)n, avail);
            if (n - (kind == EXT) > lim->max_bin)
                return twin_error(TWIN_ELIMIT, "msgpack: %s of %llu bytes at offset %zu exceeds %u",
                                  kind == BIN ? "bin" : "ext",
                                  (unsigned long long)(n - (kind == EXT)), at,
                                  (unsigned)lim->max_bin);
            pos += (size_t)n;
            break;
        case ARRAY:
        case MAP: {
            const char *what = kind == MAP ? "map" : "array";
            uint64_t values = kind == MAP ? 2 * n : n; /* n < 2^32: no overflow */
            /* Every value takes at least one byte, so a count beyond the bytes left is a lie
             * told to make the unpacker allocate; refuse it before anything is allocated. */
            if (values > avail)
                return twin_error(TWIN_EINVALID,
                                  "msgpack: %s at offset %zu declares %llu elements but only %zu "
                                  "bytes remain",
                                  what, at, (unsigned long long)n, avail);
            if (n > lim->max_count)
                return twin_error(TWIN_ELIMIT,
                                  "msgpack: %s of %llu elements at offset %zu exceeds %u", what,
                                  (unsigned long long)n, at, (unsigned)lim->max_count);
            if (objects + values > lim->max_objects)
                return twin_error(TWIN_ELIMIT, "msgpack: more than %u values at offset %zu",
                                  (unsigned)lim->max_objects, at);
            if (depth + 1 > max_depth)
                return twin_error(TWIN_ELIMIT,
                                  "msgpack: %s at offset %zu nests deeper than %u levels", what, at,
                                  max_depth);
            depth++;
            remaining[depth] = values;
            break;
        }
        }
    }
    if (pos != len)
        return twin_error(TWIN_EINVALID,
                          "msgpack: %zu trailing bytes after the value at offset %zu", len - pos,
                          pos);
    return 0;
}

int twin_msg_msgpack_unpack(msgpack_unpacked *result, const unsigned char *data, size_t len)
{
    size_t off = 0;
    int rc = twin_msg_msgpack_check(data, len, &twin_msg_limits);
    if (rc)
        return rc;
    msgpack_unpacked_init(result);
    msgpack_unpack_return ret = msgpack_unpack_next(result, (const char *)data, len, &off);
    if (ret != MSGPACK_UNPACK_SUCCESS || off != len) {
        msgpack_unpacked_destroy(result);
        if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
            return twin_error(TWIN_ERROR, "msgpack: out of memory");
        return twin_error(TWIN_EINVALID, "msgpack: the unpacker refused the message (%d)",
                          (int)ret);
    }
    return 0;
}

/* --- Encoding --------------------------------------------------------------------------- */

struct bounded_writer {
    unsigned char *p;
    size_t cap, len;
    int overflow;
};

static int bounded_write(void *data, const char *buf, size_t len)
{
    struct bounded_writer *w = data;
    if (w->overflow || len > w->cap - w->len) {
        w->overflow = 1;
        return -1;
    }
    if (len) /* an empty body may come with a NULL pointer */
        memcpy(w->p + w->len, buf, len);
    w->len += len;
    return 0;
}

static const char *const type_names[] = {
    [TWIN_MSG_HELLO] = "hello",
    [TWIN_MSG_REFS] = "refs",
    [TWIN_MSG_NEGOTIATE] = "negotiate",
    [TWIN_MSG_ACK] = "ack",
    [TWIN_MSG_PACK] = "pack",
    [TWIN_MSG_MERGE] = "merge",
    [TWIN_MSG_ACCEPT] = "accept",
    [TWIN_MSG_REFUSE] = "refuse",
    [TWIN_MSG_PING] = "ping",
    [TWIN_MSG_PONG] = "pong",
    [TWIN_MSG_ERROR] = "error",
    [TWIN_MSG_GOODBYE] = "goodbye",
    [TWIN_MSG_CLAIM] = "claim",
    [TWIN_MSG_WELCOME] = "welcome",
    [TWIN_MSG_CHECKPOINT] = "checkpoint",
    [TWIN_MSG_WRAPS_SINCE] = "wraps_since",
    [TWIN_MSG_WRAPS] = "wraps",
};

const char *twin_msg_type_name(enum twin_msg_type type)
{
    if ((unsigned)type >= sizeof(type_names) / sizeof(type_names[0]))
        return NULL;
    return type_names[type];
}

static void pack_cstr(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void pack_key(msgpack_packer *pk, const char *key)
{
    pack_cstr(pk, key, strlen(key));
}

static void pack_bin(msgpack_packer *pk, const void *p, size_t len)
{
    msgpack_pack_bin(pk, len);
    msgpack_pack_bin_body(pk, p, len);
}

static void pack_oids(msgpack_packer *pk, const unsigned char (*ids)[TWIN_OID_BYTES], size_t n)
{
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        pack_bin(pk, ids[i], TWIN_OID_BYTES);
}

/* A text field the encoder sends: bounded, valid UTF-8, returns its length or -1. */
static int text_field(size_t *out_len, const char *what, const char *s, size_t max)
{
    size_t len = s ? strnlen(s, max + 1) : 0;
    if (len > max)
        return twin_error(TWIN_ELIMIT, "encode: %s longer than %zu bytes", what, max);
    if (len && twin_util_utf8_invalid_at((const unsigned char *)s, len) != len)
        return twin_error(TWIN_EINVALID, "encode: %s is not valid UTF-8", what);
    *out_len = len;
    return 0;
}

static int check_count(const char *what, size_t n, size_t max)
{
    if (n > max)
        return twin_error(TWIN_ELIMIT, "encode: %zu %s exceed the limit of %zu", n, what, max);
    return 0;
}

int twin_msg_encode(unsigned char *out, size_t cap, size_t *out_len, const twin_msg *msg)
{
    struct bounded_writer w = {out, cap, 0, 0};
    msgpack_packer pk;
    const char *name = twin_msg_type_name(msg->type);
    size_t len = 0;
    int rc = 0;

    if (!name)
        return twin_error(TWIN_EINVALID, "encode: unknown message type %d", (int)msg->type);
    msgpack_packer_init(&pk, &w, bounded_write);

    switch (msg->type) {
    case TWIN_MSG_HELLO: {
        unsigned char network[TWIN_NETWORK_ID_BYTES];
        size_t soft_len = 0;
        if (msg->u.hello.nversions < 1 || msg->u.hello.nversions > TWIN_MSG_VERSIONS_MAX)
            return twin_error(TWIN_EINVALID, "encode: hello needs 1 to %d versions",
                              TWIN_MSG_VERSIONS_MAX);
        if ((rc = twin_noise_network_id_parse(network, msg->u.hello.network_id)) != 0)
            return twin_error_wrap(rc, "encode: hello");
        if ((rc = text_field(&soft_len, "hello software", msg->u.hello.software,
                             TWIN_MSG_SOFTWARE_MAX)) != 0 ||
            (rc = check_count("hello extensions", msg->u.hello.next, TWIN_MSG_EXT_MAX)) != 0)
            return rc;
        size_t ext_len[TWIN_MSG_EXT_MAX];
        for (size_t i = 0; i < msg->u.hello.next; i++)
            if ((rc = text_field(&ext_len[i], "hello extension", msg->u.hello.ext[i],
                                 TWIN_MSG_EXT_NAME_MAX)) != 0)
                return rc;
        /* "ext" is left out when there is none, so such a hello is what it always was. */
        msgpack_pack_map(&pk, msg->u.hello.next ? 7 : 6);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "versions");
        msgpack_pack_array(&pk, msg->u.hello.nversions);
        for (size_t i = 0; i < msg->u.hello.nversions; i++)
            msgpack_pack_uint32(&pk, msg->u.hello.versions[i]);
        pack_key(&pk, "network"), pack_bin(&pk, network, sizeof(network));
        pack_key(&pk, "node"), pack_bin(&pk, msg->u.hello.node, TWIN_PUBKEY_BYTES);
        pack_key(&pk, "head");
        if (msg->u.hello.has_head)
            pack_bin(&pk, msg->u.hello.head, TWIN_OID_BYTES);
        else
            msgpack_pack_nil(&pk);
        pack_key(&pk, "software"), pack_cstr(&pk, msg->u.hello.software, soft_len);
        if (msg->u.hello.next) {
            pack_key(&pk, "ext");
            msgpack_pack_array(&pk, msg->u.hello.next);
            for (size_t i = 0; i < msg->u.hello.next; i++)
                pack_cstr(&pk, msg->u.hello.ext[i], ext_len[i]);
        }
        break;
    }
    case TWIN_MSG_REFS:
        if ((rc = check_count("refs", msg->u.refs.count, TWIN_MSG_REFS_MAX)) != 0)
            return rc;
        msgpack_pack_map(&pk, 2);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "refs");
        msgpack_pack_map(&pk, msg->u.refs.count);
        for (size_t i = 0; i < msg->u.refs.count; i++) {
            const twin_msg_ref *r = &msg->u.refs.refs[i];
            if ((rc = text_field(&len, "ref name", r->name, TWIN_MSG_REFNAME_MAX)) != 0)
                return rc;
            if (len == 0)
                return twin_error(TWIN_EINVALID, "encode: empty ref name");
            pack_cstr(&pk, r->name, len);
            pack_bin(&pk, r->oid, TWIN_OID_BYTES);
        }
        break;
    case TWIN_MSG_NEGOTIATE:
        if ((rc = check_count("have ids", msg->u.negotiate.nhave, TWIN_MSG_IDS_MAX)) != 0 ||
            (rc = check_count("want ids", msg->u.negotiate.nwant, TWIN_MSG_IDS_MAX)) != 0)
            return rc;
        msgpack_pack_map(&pk, 4);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "have"), pack_oids(&pk, msg->u.negotiate.have, msg->u.negotiate.nhave);
        pack_key(&pk, "want"), pack_oids(&pk, msg->u.negotiate.want, msg->u.negotiate.nwant);
        pack_key(&pk, "done");
        if (msg->u.negotiate.done)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
        break;
    case TWIN_MSG_ACK:
        if ((rc = check_count("common ids", msg->u.ack.count, TWIN_MSG_IDS_MAX)) != 0)
            return rc;
        msgpack_pack_map(&pk, 2);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "common"), pack_oids(&pk, msg->u.ack.common, msg->u.ack.count);
        break;
    case TWIN_MSG_PACK:
        if ((rc = check_count("pack bytes", msg->u.pack.len, TWIN_MSG_CHUNK_MAX)) != 0)
            return rc;
        msgpack_pack_map(&pk, 4);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "seq"), msgpack_pack_uint64(&pk, msg->u.pack.seq);
        pack_key(&pk, "data"), pack_bin(&pk, msg->u.pack.data, msg->u.pack.len);
        pack_key(&pk, "last");
        if (msg->u.pack.last)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
        break;
    case TWIN_MSG_MERGE:
        if (msg->u.merge.commit_len == 0)
            return twin_error(TWIN_EINVALID, "encode: merge without a commit");
        if ((rc = check_count("commit bytes", msg->u.merge.commit_len, TWIN_MSG_COMMIT_MAX)) != 0)
            return rc;
        if (msg->u.merge.nparents < 1 || msg->u.merge.nparents > TWIN_MSG_PARENTS_MAX)
            return twin_error(TWIN_EINVALID, "encode: merge needs 1 to %d parents",
                              TWIN_MSG_PARENTS_MAX);
        msgpack_pack_map(&pk, 3);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "commit"), pack_bin(&pk, msg->u.merge.commit, msg->u.merge.commit_len);
        pack_key(&pk, "parents"),
            pack_oids(&pk, (const unsigned char(*)[TWIN_OID_BYTES])msg->u.merge.parents,
                      msg->u.merge.nparents);
        break;
    case TWIN_MSG_ACCEPT:
        msgpack_pack_map(&pk, 2);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "head"), pack_bin(&pk, msg->u.accept.head, TWIN_OID_BYTES);
        break;
    case TWIN_MSG_REFUSE:
    case TWIN_MSG_ERROR: {
        int refuse = msg->type == TWIN_MSG_REFUSE;
        const char *text = refuse ? msg->u.refuse.reason : msg->u.error.message;
        if ((rc = text_field(&len, refuse ? "refuse reason" : "error message", text,
                             TWIN_MSG_TEXT_MAX)) != 0)
            return rc;
        msgpack_pack_map(&pk, 3);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "code");
        msgpack_pack_uint32(&pk, refuse ? msg->u.refuse.code : msg->u.error.code);
        pack_key(&pk, refuse ? "reason" : "message"), pack_cstr(&pk, text, len);
        break;
    }
    case TWIN_MSG_PING:
    case TWIN_MSG_PONG:
        msgpack_pack_map(&pk, 2);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "nonce"), msgpack_pack_uint64(&pk, msg->u.ping.nonce);
        break;
    case TWIN_MSG_GOODBYE:
        msgpack_pack_map(&pk, 2);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "code"), msgpack_pack_uint32(&pk, msg->u.goodbye.code);
        break;
    case TWIN_MSG_CLAIM: {
        const char *names[] = {"name", "org_id", "country", "side", "org_type"};
        const char *values[] = {msg->u.claim.name, msg->u.claim.org_id, msg->u.claim.country,
                                msg->u.claim.side, msg->u.claim.org_type};
        size_t lens[5];
        for (int i = 0; i < 5; i++)
            if ((rc = text_field(&lens[i], names[i], values[i], TWIN_MSG_IDENTITY_MAX)) != 0)
                return rc;
        /* The address is optional and left out when not given, so that a claim without one
         * is what older nodes sent. */
        size_t alen = 0;
        if ((rc = text_field(&alen, "address", msg->u.claim.address, TWIN_MSG_IDENTITY_MAX)) != 0)
            return rc;
        msgpack_pack_map(&pk, alen ? 8 : 7);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "secret"), pack_bin(&pk, msg->u.claim.secret, TWIN_INVITE_SECRET_BYTES);
        for (int i = 0; i < 5; i++)
            pack_key(&pk, names[i]), pack_cstr(&pk, values[i], lens[i]);
        if (alen)
            pack_key(&pk, "address"), pack_cstr(&pk, msg->u.claim.address, alen);
        break;
    }
    case TWIN_MSG_WELCOME:
        if ((rc = text_field(&len, "role", msg->u.welcome.role, TWIN_MSG_IDENTITY_MAX)) != 0)
            return rc;
        msgpack_pack_map(&pk, 3);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "role"), pack_cstr(&pk, msg->u.welcome.role, len);
        pack_key(&pk, "head"), pack_bin(&pk, msg->u.welcome.head, TWIN_OID_BYTES);
        break;
    case TWIN_MSG_CHECKPOINT: {
        size_t slen = 0;
        if ((rc = text_field(&len, "statement", msg->u.checkpoint.statement, TWIN_MSG_TEXT_MAX)) ||
            (rc = text_field(&slen, "signature", msg->u.checkpoint.signature,
                             TWIN_MSG_SIGNATURE_MAX)))
            return rc;
        msgpack_pack_map(&pk, 3);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "statement"), pack_cstr(&pk, msg->u.checkpoint.statement, len);
        pack_key(&pk, "signature"), pack_cstr(&pk, msg->u.checkpoint.signature, slen);
        break;
    }
    case TWIN_MSG_WRAPS_SINCE:
        if (msg->u.wraps_since.since > TWIN_MSG_SEQ_MAX ||
            (!msg->u.wraps_since.has_store && msg->u.wraps_since.since != 0))
            return twin_error(TWIN_EINVALID,
                              "encode: wraps_since \"since\" above 2^63 - 1, or not 0 without a "
                              "store");
        msgpack_pack_map(&pk, msg->u.wraps_since.has_mine ? 4 : 3);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "store"), pack_bin(&pk, msg->u.wraps_since.store,
                                         msg->u.wraps_since.has_store ? TWIN_MSG_STORE_BYTES : 0);
        pack_key(&pk, "since"), msgpack_pack_uint64(&pk, msg->u.wraps_since.since);
        if (msg->u.wraps_since.has_mine)
            pack_key(&pk, "mine"), pack_bin(&pk, msg->u.wraps_since.mine, TWIN_MSG_STORE_BYTES);
        break;
    case TWIN_MSG_WRAPS:
        if ((rc = check_count("wraps", msg->u.wraps.count, TWIN_MSG_WRAPS_MAX)) != 0)
            return rc;
        if (msg->u.wraps.upto > TWIN_MSG_SEQ_MAX)
            return twin_error(TWIN_EINVALID, "encode: wraps \"upto\" above 2^63 - 1");
        msgpack_pack_map(&pk, 5);
        pack_key(&pk, "type"), pack_key(&pk, name);
        pack_key(&pk, "store"), pack_bin(&pk, msg->u.wraps.store, TWIN_MSG_STORE_BYTES);
        pack_key(&pk, "upto"), msgpack_pack_uint64(&pk, msg->u.wraps.upto);
        pack_key(&pk, "items");
        msgpack_pack_array(&pk, msg->u.wraps.count);
        for (size_t i = 0; i < msg->u.wraps.count; i++) {
            const twin_msg_wrap *wr = &msg->u.wraps.items[i];
            msgpack_pack_array(&pk, wr->signed_by ? 5 : 3);
            pack_bin(&pk, wr->blob, TWIN_OID_BYTES);
            pack_bin(&pk, wr->to, TWIN_PUBKEY_BYTES);
            pack_bin(&pk, wr->box, TWIN_MSG_BOX_BYTES);
            if (wr->signed_by) {
                pack_bin(&pk, wr->by, TWIN_PUBKEY_BYTES);
                pack_bin(&pk, wr->sig, TWIN_MSG_SIG_BYTES);
            }
        }
        pack_key(&pk, "more");
        if (msg->u.wraps.more)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
        break;
    case TWIN_MSG_UNKNOWN:
        break; /* refused above: it has no name */
    }
    if (w.overflow)
        return twin_error(TWIN_ELIMIT, "encode: %s message does not fit %zu bytes", name, cap);
    *out_len = w.len;
    return 0;
}

/* --- Decoding --------------------------------------------------------------------------- */

static const char *object_kind(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "int";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "float";
    case MSGPACK_OBJECT_STR:
        return "str";
    case MSGPACK_OBJECT_ARRAY:
        return "array";
    case MSGPACK_OBJECT_MAP:
        return "map";
    case MSGPACK_OBJECT_BIN:
        return "bin";
    case MSGPACK_OBJECT_EXT:
        return "ext";
    }
    return "unknown";
}

static int key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

struct fields {
    const char *type; /* for messages */
    const msgpack_object_map *map;
};

static const msgpack_object *find(const struct fields *f, const char *name)
{
    for (uint32_t i = 0; i < f->map->size; i++)
        if (key_is(&f->map->ptr[i].key, name))
            return &f->map->ptr[i].val;
    return NULL;
}

static int missing(const struct fields *f, const char *name)
{
    return twin_error(TWIN_EINVALID, "%s: missing required field \"%s\"", f->type, name);
}

static int wrong_type(const struct fields *f, const char *name, const char *want,
                      const msgpack_object *o)
{
    return twin_error(TWIN_EINVALID, "%s: field \"%s\" must be %s, not %s", f->type, name, want,
                      object_kind(o));
}

static int get_uint(uint64_t *out, const struct fields *f, const char *name, uint64_t max)
{
    const msgpack_object *o = find(f, name);
    if (!o)
        return missing(f, name);
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return wrong_type(f, name, "a non-negative integer", o);
    if (o->via.u64 > max)
        return twin_error(TWIN_EINVALID, "%s: field \"%s\" is %llu, above %llu", f->type, name,
                          (unsigned long long)o->via.u64, (unsigned long long)max);
    *out = o->via.u64;
    return 0;
}

static int get_u32(uint32_t *out, const struct fields *f, const char *name)
{
    uint64_t v = 0;
    int rc = get_uint(&v, f, name, UINT32_MAX);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

static int get_bool(bool *out, const struct fields *f, const char *name, int required)
{
    const msgpack_object *o = find(f, name);
    if (!o) {
        if (required)
            return missing(f, name);
        *out = false;
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return wrong_type(f, name, "a bool", o);
    *out = o->via.boolean;
    return 0;
}

static int check_bin(const struct fields *f, const char *name, const msgpack_object *o,
                     size_t exact)
{
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != exact) {
        if (o->type == MSGPACK_OBJECT_BIN)
            return twin_error(TWIN_EINVALID, "%s: field \"%s\" must be bin %zu, not bin %u",
                              f->type, name, exact, (unsigned)o->via.bin.size);
        return wrong_type(f, name, exact == TWIN_OID_BYTES ? "bin 20 (an object id)" : "bin", o);
    }
    return 0;
}

static int get_bin_exact(unsigned char *out, size_t n, const struct fields *f, const char *name)
{
    const msgpack_object *o = find(f, name);
    if (!o)
        return missing(f, name);
    int rc = check_bin(f, name, o, n);
    if (rc)
        return rc;
    memcpy(out, o->via.bin.ptr, n);
    return 0;
}

static int get_bin_alloc(unsigned char **out, size_t *out_len, const struct fields *f,
                         const char *name, size_t max)
{
    const msgpack_object *o = find(f, name);
    if (!o)
        return missing(f, name);
    if (o->type != MSGPACK_OBJECT_BIN)
        return wrong_type(f, name, "bin", o);
    if (o->via.bin.size > max)
        return twin_error(TWIN_ELIMIT, "%s: field \"%s\" of %u bytes exceeds %zu", f->type, name,
                          (unsigned)o->via.bin.size, max);
    unsigned char *p = malloc(o->via.bin.size ? o->via.bin.size : 1);
    if (!p)
        return twin_error(TWIN_ERROR, "%s: out of memory", f->type);
    if (o->via.bin.size) /* msgpack-c may leave an empty bin's pointer NULL */
        memcpy(p, o->via.bin.ptr, o->via.bin.size);
    *out = p;
    *out_len = o->via.bin.size;
    return 0;
}

static int copy_text(char *out, size_t cap, const struct fields *f, const char *name,
                     const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return wrong_type(f, name, "a str", o);
    if (o->via.str.size >= cap)
        return twin_error(TWIN_ELIMIT, "%s: field \"%s\" of %u bytes exceeds %zu", f->type, name,
                          (unsigned)o->via.str.size, cap - 1);
    if (o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size))
        return twin_error(TWIN_EINVALID, "%s: field \"%s\" contains a NUL byte", f->type, name);
    if (o->via.str.size)
        memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return 0;
}

static int get_text(char *out, size_t cap, const struct fields *f, const char *name, int required)
{
    const msgpack_object *o = find(f, name);
    if (!o) {
        if (required)
            return missing(f, name);
        out[0] = '\0';
        return 0;
    }
    return copy_text(out, cap, f, name, o);
}

static int get_oids(unsigned char (**out)[TWIN_OID_BYTES], size_t *count, const struct fields *f,
                    const char *name, size_t min, size_t max)
{
    const msgpack_object *o = find(f, name);
    if (!o)
        return missing(f, name);
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return wrong_type(f, name, "an array of object ids", o);
    size_t n = o->via.array.size;
    if (n < min || n > max)
        return twin_error(n > max ? TWIN_ELIMIT : TWIN_EINVALID,
                          "%s: field \"%s\" holds %zu ids, allowed %zu to %zu", f->type, name, n,
                          min, max);
    for (size_t i = 0; i < n; i++) {
        int rc = check_bin(f, name, &o->via.array.ptr[i], TWIN_OID_BYTES);
        if (rc)
            return rc;
    }
    unsigned char(*ids)[TWIN_OID_BYTES] = twin_util_malloc_array(n, TWIN_OID_BYTES);
    if (!ids)
        return twin_error(TWIN_ERROR, "%s: out of memory", f->type);
    for (size_t i = 0; i < n; i++)
        memcpy(ids[i], o->via.array.ptr[i].via.bin.ptr, TWIN_OID_BYTES);
    *out = ids;
    *count = n;
    return 0;
}

static void hex_encode(char *out, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int decode_hello(twin_msg *m, const struct fields *f)
{
    unsigned char network[TWIN_NETWORK_ID_BYTES];
    const msgpack_object *o = find(f, "versions");
    int rc;
    if (!o)
        return missing(f, "versions");
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return wrong_type(f, "versions", "an array", o);
    if (o->via.array.size < 1 || o->via.array.size > TWIN_MSG_VERSIONS_MAX)
        return twin_error(TWIN_EINVALID, "hello: \"versions\" holds %u entries, allowed 1 to %d",
                          (unsigned)o->via.array.size, TWIN_MSG_VERSIONS_MAX);
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *v = &o->via.array.ptr[i];
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 < 1 || v->via.u64 > UINT32_MAX)
            return twin_error(TWIN_EINVALID, "hello: \"versions\" entry %u is not a version number",
                              i);
        m->u.hello.versions[i] = (uint32_t)v->via.u64;
    }
    m->u.hello.nversions = o->via.array.size;
    if ((rc = get_bin_exact(network, sizeof(network), f, "network")) != 0)
        return rc;
    hex_encode(m->u.hello.network_id, network, sizeof(network));
    if ((rc = get_bin_exact(m->u.hello.node, TWIN_PUBKEY_BYTES, f, "node")) != 0)
        return rc;
    o = find(f, "head");
    if (!o)
        return missing(f, "head");
    if (o->type == MSGPACK_OBJECT_NIL) {
        m->u.hello.has_head = false;
    } else {
        if ((rc = check_bin(f, "head", o, TWIN_OID_BYTES)) != 0)
            return rc;
        memcpy(m->u.hello.head, o->via.bin.ptr, TWIN_OID_BYTES);
        m->u.hello.has_head = true;
    }
    if ((rc = get_text(m->u.hello.software, sizeof(m->u.hello.software), f, "software", 1)) != 0)
        return rc;
    /* The optional extensions (proto/SEALED.md 5): an array of at most 16 names. */
    o = find(f, "ext");
    if (!o)
        return 0;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return wrong_type(f, "ext", "an array", o);
    if (o->via.array.size > TWIN_MSG_EXT_MAX)
        return twin_error(TWIN_ELIMIT, "hello: \"ext\" holds %u entries, allowed at most %d",
                          (unsigned)o->via.array.size, TWIN_MSG_EXT_MAX);
    for (uint32_t i = 0; i < o->via.array.size; i++)
        if ((rc = copy_text(m->u.hello.ext[i], sizeof(m->u.hello.ext[i]), f, "ext",
                            &o->via.array.ptr[i])) != 0)
            return rc;
    m->u.hello.next = o->via.array.size;
    return 0;
}

static int decode_wraps_since(twin_msg *m, const struct fields *f)
{
    const msgpack_object *o = find(f, "store");
    int rc;
    if (!o)
        return missing(f, "store");
    if (o->type != MSGPACK_OBJECT_BIN ||
        (o->via.bin.size != TWIN_MSG_STORE_BYTES && o->via.bin.size != 0)) {
        if (o->type == MSGPACK_OBJECT_BIN)
            return twin_error(TWIN_EINVALID,
                              "%s: field \"store\" must be bin 16 or bin 0, not bin %u", f->type,
                              (unsigned)o->via.bin.size);
        return wrong_type(f, "store", "bin", o);
    }
    m->u.wraps_since.has_store = o->via.bin.size == TWIN_MSG_STORE_BYTES;
    if (m->u.wraps_since.has_store)
        memcpy(m->u.wraps_since.store, o->via.bin.ptr, TWIN_MSG_STORE_BYTES);
    if ((rc = get_uint(&m->u.wraps_since.since, f, "since", TWIN_MSG_SEQ_MAX)) != 0)
        return rc;
    if (!m->u.wraps_since.has_store && m->u.wraps_since.since != 0)
        return twin_error(TWIN_EINVALID, "%s: field \"since\" must be 0 when \"store\" is empty",
                          f->type);
    if ((o = find(f, "mine")) != NULL) { /* optional (proto/SEALED.md 5) */
        if (o->type != MSGPACK_OBJECT_BIN)
            return wrong_type(f, "mine", "bin", o);
        if (o->via.bin.size != TWIN_MSG_STORE_BYTES)
            return twin_error(TWIN_EINVALID, "%s: field \"mine\" must be bin 16, not bin %u",
                              f->type, (unsigned)o->via.bin.size);
        m->u.wraps_since.has_mine = true;
        memcpy(m->u.wraps_since.mine, o->via.bin.ptr, TWIN_MSG_STORE_BYTES);
    }
    return 0;
}

/* One value of a wrap: bin of exactly n bytes. */
static int wrap_value(unsigned char *out, const struct fields *f, size_t item, const char *name,
                      const msgpack_object *o, size_t n)
{
    if (o->type != MSGPACK_OBJECT_BIN)
        return twin_error(TWIN_EINVALID, "%s: item %zu: \"%s\" must be bin %zu, not %s", f->type,
                          item, name, n, object_kind(o));
    if (o->via.bin.size != n)
        return twin_error(TWIN_EINVALID, "%s: item %zu: \"%s\" must be bin %zu, not bin %u",
                          f->type, item, name, n, (unsigned)o->via.bin.size);
    memcpy(out, o->via.bin.ptr, n);
    return 0;
}

static int decode_wraps(twin_msg *m, const struct fields *f)
{
    int rc;
    if ((rc = get_bin_exact(m->u.wraps.store, TWIN_MSG_STORE_BYTES, f, "store")) != 0 ||
        (rc = get_uint(&m->u.wraps.upto, f, "upto", TWIN_MSG_SEQ_MAX)) != 0)
        return rc;
    const msgpack_object *o = find(f, "items");
    if (!o)
        return missing(f, "items");
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return wrong_type(f, "items", "an array of wraps", o);
    size_t n = o->via.array.size;
    if (n > TWIN_MSG_WRAPS_MAX)
        return twin_error(TWIN_ELIMIT, "%s: field \"items\" holds %zu wraps, allowed at most %d",
                          f->type, n, TWIN_MSG_WRAPS_MAX);
    m->u.wraps.items = calloc(n ? n : 1, sizeof(twin_msg_wrap));
    if (!m->u.wraps.items)
        return twin_error(TWIN_ERROR, "%s: out of memory", f->type);
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *w = &o->via.array.ptr[i];
        twin_msg_wrap *wr = &m->u.wraps.items[i];
        if (w->type != MSGPACK_OBJECT_ARRAY || (w->via.array.size != 3 && w->via.array.size != 5))
            return twin_error(TWIN_EINVALID,
                              "%s: item %zu must be an array of 3 or 5 values, not %s of %u",
                              f->type, i, object_kind(w),
                              w->type == MSGPACK_OBJECT_ARRAY ? (unsigned)w->via.array.size : 1u);
        const msgpack_object *v = w->via.array.ptr;
        wr->signed_by = w->via.array.size == 5;
        if ((rc = wrap_value(wr->blob, f, i, "blob", &v[0], TWIN_OID_BYTES)) != 0 ||
            (rc = wrap_value(wr->to, f, i, "to", &v[1], TWIN_PUBKEY_BYTES)) != 0 ||
            (rc = wrap_value(wr->box, f, i, "box", &v[2], TWIN_MSG_BOX_BYTES)) != 0 ||
            (wr->signed_by &&
             ((rc = wrap_value(wr->by, f, i, "by", &v[3], TWIN_PUBKEY_BYTES)) != 0 ||
              (rc = wrap_value(wr->sig, f, i, "sig", &v[4], TWIN_MSG_SIG_BYTES)) != 0)))
            return rc;
    }
    m->u.wraps.count = n;
    return get_bool(&m->u.wraps.more, f, "more", 1);
}

static int compare_refs(const void *a, const void *b)
{
    return strcmp(((const twin_msg_ref *)a)->name, ((const twin_msg_ref *)b)->name);
}

static int decode_refs(twin_msg *m, const struct fields *f)
{
    const msgpack_object *o = find(f, "refs");
    if (!o)
        return missing(f, "refs");
    if (o->type != MSGPACK_OBJECT_MAP)
        return wrong_type(f, "refs", "a map", o);
    size_t n = o->via.map.size;
    if (n > TWIN_MSG_REFS_MAX)
        return twin_error(TWIN_ELIMIT, "refs: %zu refs exceed the limit of %d", n,
                          TWIN_MSG_REFS_MAX);
    m->u.refs.refs = calloc(n ? n : 1, sizeof(twin_msg_ref));
    if (!m->u.refs.refs)
        return twin_error(TWIN_ERROR, "refs: out of memory");
    for (size_t i = 0; i < n; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        twin_msg_ref *r = &m->u.refs.refs[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size == 0)
            return twin_error(TWIN_EINVALID, "refs: ref %zu has no name string", i);
        if (kv->key.via.str.size > TWIN_MSG_REFNAME_MAX)
            return twin_error(TWIN_ELIMIT, "refs: ref name of %u bytes exceeds %d",
                              (unsigned)kv->key.via.str.size, TWIN_MSG_REFNAME_MAX);
        r->name = malloc(kv->key.via.str.size + 1);
        if (!r->name)
            return twin_error(TWIN_ERROR, "refs: out of memory");
        m->u.refs.count = i + 1; /* so a failure below frees this name */
        int rc = copy_text(r->name, kv->key.via.str.size + 1, f, "refs", &kv->key);
        if (rc)
            return rc;
        if ((rc = check_bin(f, "refs", &kv->val, TWIN_OID_BYTES)) != 0)
            return rc;
        memcpy(r->oid, kv->val.via.bin.ptr, TWIN_OID_BYTES);
    }
    qsort(m->u.refs.refs, n, sizeof(twin_msg_ref), compare_refs);
    for (size_t i = 1; i < n; i++)
        if (strcmp(m->u.refs.refs[i - 1].name, m->u.refs.refs[i].name) == 0)
            return twin_error(TWIN_EINVALID, "refs: ref \"%s\" appears twice",
                              m->u.refs.refs[i].name);
    return 0;
}

static int decode_fields(twin_msg *m, const struct fields *f)
{
    int rc;
    uint64_t v = 0;
    switch (m->type) {
    case TWIN_MSG_HELLO:
        return decode_hello(m, f);
    case TWIN_MSG_REFS:
        return decode_refs(m, f);
    case TWIN_MSG_NEGOTIATE:
        if ((rc = get_oids(&m->u.negotiate.have, &m->u.negotiate.nhave, f, "have", 0,
                           TWIN_MSG_IDS_MAX)) != 0 ||
            (rc = get_oids(&m->u.negotiate.want, &m->u.negotiate.nwant, f, "want", 0,
                           TWIN_MSG_IDS_MAX)) != 0)
            return rc;
        return get_bool(&m->u.negotiate.done, f, "done", 0);
    case TWIN_MSG_ACK:
        return get_oids(&m->u.ack.common, &m->u.ack.count, f, "common", 0, TWIN_MSG_IDS_MAX);
    case TWIN_MSG_PACK:
        if ((rc = get_uint(&m->u.pack.seq, f, "seq", UINT64_MAX)) != 0 ||
            (rc = get_bin_alloc(&m->u.pack.data, &m->u.pack.len, f, "data", TWIN_MSG_CHUNK_MAX)) !=
                0)
            return rc;
        return get_bool(&m->u.pack.last, f, "last", 1);
    case TWIN_MSG_MERGE: {
        unsigned char(*parents)[TWIN_OID_BYTES] = NULL;
        if ((rc = get_bin_alloc(&m->u.merge.commit, &m->u.merge.commit_len, f, "commit",
                                TWIN_MSG_COMMIT_MAX)) != 0)
            return rc;
        if (m->u.merge.commit_len == 0)
            return twin_error(TWIN_EINVALID, "merge: field \"commit\" is empty");
        if ((rc = get_oids(&parents, &m->u.merge.nparents, f, "parents", 1,
                           TWIN_MSG_PARENTS_MAX)) != 0)
            return rc;
        memcpy(m->u.merge.parents, parents, m->u.merge.nparents * TWIN_OID_BYTES);
        free(parents);
        return 0;
    }
    case TWIN_MSG_ACCEPT:
        return get_bin_exact(m->u.accept.head, TWIN_OID_BYTES, f, "head");
    case TWIN_MSG_REFUSE:
        if ((rc = get_u32(&m->u.refuse.code, f, "code")) != 0)
            return rc;
        return get_text(m->u.refuse.reason, sizeof(m->u.refuse.reason), f, "reason", 0);
    case TWIN_MSG_PING:
    case TWIN_MSG_PONG:
        if ((rc = get_uint(&v, f, "nonce", UINT64_MAX)) != 0)
            return rc;
        m->u.ping.nonce = v;
        return 0;
    case TWIN_MSG_ERROR:
        if ((rc = get_u32(&m->u.error.code, f, "code")) != 0)
            return rc;
        return get_text(m->u.error.message, sizeof(m->u.error.message), f, "message", 0);
    case TWIN_MSG_GOODBYE:
        return get_u32(&m->u.goodbye.code, f, "code");
    case TWIN_MSG_CLAIM:
        if ((rc = get_bin_exact(m->u.claim.secret, TWIN_INVITE_SECRET_BYTES, f, "secret")) ||
            (rc = get_text(m->u.claim.name, sizeof(m->u.claim.name), f, "name", 1)) ||
            (rc = get_text(m->u.claim.org_id, sizeof(m->u.claim.org_id), f, "org_id", 1)) ||
            (rc = get_text(m->u.claim.country, sizeof(m->u.claim.country), f, "country", 1)) ||
            (rc = get_text(m->u.claim.side, sizeof(m->u.claim.side), f, "side", 1)))
            return rc;
        if ((rc = get_text(m->u.claim.org_type, sizeof(m->u.claim.org_type), f, "org_type", 0)))
            return rc;
        return get_text(m->u.claim.address, sizeof(m->u.claim.address), f, "address", 0);
    case TWIN_MSG_WELCOME:
        if ((rc = get_text(m->u.welcome.role, sizeof(m->u.welcome.role), f, "role", 1)))
            return rc;
        return get_bin_exact(m->u.welcome.head, TWIN_OID_BYTES, f, "head");
    case TWIN_MSG_CHECKPOINT:
        if ((rc = get_text(m->u.checkpoint.statement, sizeof(m->u.checkpoint.statement), f,
                           "statement", 1)))
            return rc;
        return get_text(m->u.checkpoint.signature, sizeof(m->u.checkpoint.signature), f,
                        "signature", 1);
    case TWIN_MSG_WRAPS_SINCE:
        return decode_wraps_since(m, f);
    case TWIN_MSG_WRAPS:
        return decode_wraps(m, f);
    case TWIN_MSG_UNKNOWN:
        return 0;
    }
    return 0;
}

int twin_msg_decode(twin_msg *out, const unsigned char *data, size_t len)
{
    msgpack_unpacked result;
    twin_msg m;
    struct fields f;
    int rc;

    memset(&m, 0, sizeof(m));
    if ((rc = twin_msg_msgpack_unpack(&result, data, len)) != 0)
        return rc;
    const msgpack_object *root = &result.data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        rc = twin_error(TWIN_EINVALID, "message: expected a map, got %s", object_kind(root));
        goto cleanup;
    }
    f.map = &root->via.map;
    f.type = "message";
    if (f.map->size > MSG_MAX_FIELDS) {
        rc = twin_error(TWIN_ELIMIT, "message: %u fields exceed the limit of %d",
                        (unsigned)f.map->size, MSG_MAX_FIELDS);
        goto cleanup;
    }
    for (uint32_t i = 0; i < f.map->size; i++) {
        const msgpack_object *k = &f.map->ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) {
            rc = twin_error(TWIN_EINVALID, "message: key %u is %s, not a str", i, object_kind(k));
            goto cleanup;
        }
        for (uint32_t j = 0; j < i; j++) {
            const msgpack_object *p = &f.map->ptr[j].key;
            if (p->via.str.size == k->via.str.size &&
                (k->via.str.size == 0 ||
                 memcmp(p->via.str.ptr, k->via.str.ptr, k->via.str.size) == 0)) {
                rc = twin_error(TWIN_EINVALID, "message: key \"%.*s\" appears twice",
                                (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr);
                goto cleanup;
            }
        }
    }
    const msgpack_object *t = find(&f, "type");
    if (!t) {
        rc = twin_error(TWIN_EINVALID, "message: missing required field \"type\"");
        goto cleanup;
    }
    char type[TWIN_MSG_TYPE_MAX + 1];
    if ((rc = copy_text(type, sizeof(type), &f, "type", t)) != 0)
        goto cleanup;
    m.type = TWIN_MSG_UNKNOWN;
    for (size_t i = 1; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(type, type_names[i]) == 0)
            m.type = (enum twin_msg_type)i;
    if (m.type == TWIN_MSG_UNKNOWN)
        memcpy(m.u.unknown.type, type, sizeof(type));
    f.type = m.type != TWIN_MSG_UNKNOWN && type_names[m.type] ? type_names[m.type] : "message";
    if ((rc = decode_fields(&m, &f)) != 0)
        goto cleanup;
    *out = m;
    memset(&m, 0, sizeof(m));

cleanup:
    twin_msg_clear(&m);
    msgpack_unpacked_destroy(&result);
    return rc;
}

bool twin_msg_hello_has_ext(const twin_msg *hello, const char *ext)
{
    if (hello->type != TWIN_MSG_HELLO)
        return false;
    for (size_t i = 0; i < hello->u.hello.next && i < TWIN_MSG_EXT_MAX; i++)
        if (strcmp(hello->u.hello.ext[i], ext) == 0)
            return true;
    return false;
}

void twin_msg_clear(twin_msg *msg)
{
    switch (msg->type) {
    case TWIN_MSG_REFS:
        for (size_t i = 0; i < msg->u.refs.count; i++)
            free(msg->u.refs.refs[i].name);
        free(msg->u.refs.refs);
        break;
    case TWIN_MSG_NEGOTIATE:
        free(msg->u.negotiate.have);
        free(msg->u.negotiate.want);
        break;
    case TWIN_MSG_ACK:
        free(msg->u.ack.common);
        break;
    case TWIN_MSG_PACK:
        free(msg->u.pack.data);
        break;
    case TWIN_MSG_MERGE:
        free(msg->u.merge.commit);
        break;
    case TWIN_MSG_WRAPS:
        free(msg->u.wraps.items);
        break;
    default:
        break;
    }
    memset(msg, 0, sizeof(*msg));
}
