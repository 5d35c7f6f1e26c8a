/*
 * twin's wire messages: one msgpack map per frame, with a "type" and fields (proto/PROTOCOL.md).
 * Untrusted bytes are walked by a bounded pre-scan (depth, counts against the bytes present,
 * lengths, UTF-8) before msgpack-c sees them, since msgpack-c allocates what a message declares.
 */
#ifndef TWIN_MSG_H
#define TWIN_MSG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/key.h"
#include "twin/noise.h"

#define TWIN_OID_BYTES 20 /* git object ids (SHA-1) travel as bin 20 */

/* Limits of protocol version 1; proto/PROTOCOL.md states each one. */
#define TWIN_MSG_MAX          (1024 * 1024 + 64 * 1024) /* one encoded message */
#define TWIN_FRAME_MAX        (TWIN_MSG_MAX + TWIN_NOISE_TAG_BYTES)
#define TWIN_MSG_MAX_DEPTH    8             /* containers nested, the message map being depth 1 */
#define TWIN_MSG_MAX_COUNT    8192          /* elements of one array, entries of one map */
#define TWIN_MSG_MAX_OBJECTS  20000         /* values in one message, counting a map entry as two */
#define TWIN_MSG_MAX_STR      65536         /* bytes of one string */
#define TWIN_MSG_MAX_BIN      (1024 * 1024) /* bytes of one bin or ext payload */
#define TWIN_MSG_TYPE_MAX     64            /* bytes of the "type" string */
#define TWIN_MSG_IDS_MAX      4096          /* object ids in one have/want/common list */
#define TWIN_MSG_REFS_MAX     4096
#define TWIN_MSG_REFNAME_MAX  1024
#define TWIN_MSG_TEXT_MAX     1024 /* reason and error message strings */
#define TWIN_MSG_SOFTWARE_MAX 256
#define TWIN_MSG_VERSIONS_MAX 16
#define TWIN_MSG_PARENTS_MAX  16
#define TWIN_MSG_CHUNK_MAX    (1024 * 1024) /* pack bytes in one chunk */
#define TWIN_MSG_COMMIT_MAX   (1024 * 1024) /* raw commit object in a merge proposal */
#define TWIN_MSG_EXT_MAX      16            /* extensions named in a hello (proto/SEALED.md 5) */
#define TWIN_MSG_EXT_NAME_MAX 64            /* bytes of one extension's name */
#define TWIN_MSG_WRAPS_MAX    2048          /* wraps in one wraps message */
#define TWIN_MSG_STORE_BYTES  16            /* a wrap store's id */
#define TWIN_MSG_SEQ_MAX      INT64_MAX     /* since and upto: a wrap store's seq */
#define TWIN_MSG_BOX_BYTES    80            /* a wrap's sealed box */
#define TWIN_MSG_SIG_BYTES    64            /* a later wrap's Ed25519 signature */

struct twin_msgpack_limits {
    size_t max_size;
    unsigned max_depth;
    uint32_t max_count;
    uint32_t max_objects;
    uint32_t max_str;
    uint32_t max_bin;
};

/* The limits every received message is held to. */
extern const struct twin_msgpack_limits twin_msg_limits;

/* Walks one complete msgpack value filling data[0..len) exactly, without allocating. Fails with
 * TWIN_ELIMIT (a limit) or TWIN_EINVALID (truncated, trailing bytes, invalid UTF-8, the unused
 * type byte 0xc1), the message naming the offset. */
int twin_msg_msgpack_check(const unsigned char *data, size_t len,
                           const struct twin_msgpack_limits *lim);

/* Pre-scans under twin_msg_limits, then unpacks with msgpack-c. *out points into data and into
 * *result's zone: keep both while using it; msgpack_unpacked_destroy(result) after. */
int twin_msg_msgpack_unpack(msgpack_unpacked *result, const unsigned char *data, size_t len);

enum twin_msg_type {
    TWIN_MSG_UNKNOWN = 0, /* a type this version does not know; see u.unknown */
    TWIN_MSG_HELLO,
    TWIN_MSG_REFS,
    TWIN_MSG_NEGOTIATE,
    TWIN_MSG_ACK,
    TWIN_MSG_PACK,
    TWIN_MSG_MERGE,
    TWIN_MSG_ACCEPT,
    TWIN_MSG_REFUSE,
    TWIN_MSG_PING,
    TWIN_MSG_PONG,
    TWIN_MSG_ERROR,
    TWIN_MSG_GOODBYE,
    TWIN_MSG_CLAIM,       /* a joining node presents an invite (see proto/PROTOCOL.md, "Joining") */
    TWIN_MSG_WELCOME,     /* the inviter admitted it */
    TWIN_MSG_CHECKPOINT,  /* a signed statement of the sender's head (twin/checkpoint.h) */
    TWIN_MSG_WRAPS_SINCE, /* extension wraps/1: which of the receiver's wraps the sender lacks */
    TWIN_MSG_WRAPS,       /* extension wraps/1: wraps the sender keeps (proto/SEALED.md 5) */
};

/* The extension of proto/SEALED.md: sealed records' wraps exchanged in a session. */
#define TWIN_EXT_WRAPS "wraps/1"

#define TWIN_INVITE_SECRET_BYTES 32
#define TWIN_MSG_IDENTITY_MAX    256  /* bytes of each identity field in a claim */
#define TWIN_MSG_SIGNATURE_MAX   4096 /* an armored SSH signature */

/* Reason codes of "refuse". Unknown codes are read as TWIN_REFUSE_OTHER. */
enum twin_refuse_code {
    TWIN_REFUSE_OTHER = 0,
    TWIN_REFUSE_DIVERGED = 1,       /* the proposal does not build on the current head */
    TWIN_REFUSE_BAD_SIGNATURE = 2,  /* a commit's signature does not verify */
    TWIN_REFUSE_NOT_MEMBER = 3,     /* a commit's signer may not make that change */
    TWIN_REFUSE_INVALID = 4,        /* a record or the tree breaks the schema */
    TWIN_REFUSE_MERGE_MISMATCH = 5, /* the merge does not re-derive to the same commit */
    TWIN_REFUSE_REWRITE = 6,        /* it would rewrite published history */
    TWIN_REFUSE_BUSY = 7,           /* the repository is locked by another writer; retry */
    TWIN_REFUSE_TOO_LARGE = 8,      /* over a size limit of the receiver */
    TWIN_REFUSE_MISSING = 9,        /* objects the proposal needs were not sent */
};

/* Codes of "error". Only TWIN_WIRE_UNKNOWN_TYPE leaves the session open. */
enum twin_wire_error {
    TWIN_WIRE_INTERNAL = 1,     /* the sender failed on its own side */
    TWIN_WIRE_MALFORMED = 2,    /* a message broke the format or a limit */
    TWIN_WIRE_UNKNOWN_TYPE = 3, /* a message type the sender does not know (not fatal) */
    TWIN_WIRE_UNEXPECTED = 4,   /* a message out of order for the session */
    TWIN_WIRE_BAD_HELLO = 5,    /* network or node in hello differs from the handshake */
    TWIN_WIRE_VERSION = 6,      /* no protocol version in common */
    TWIN_WIRE_TIMEOUT = 7,      /* the peer was too slow */
    TWIN_WIRE_SHUTDOWN = 8,     /* the sender is stopping */
};

/* Codes of "goodbye". */
enum twin_goodbye_code {
    TWIN_GOODBYE_DONE = 0,     /* the session finished its work */
    TWIN_GOODBYE_SHUTDOWN = 1, /* the node is stopping */
    TWIN_GOODBYE_IDLE = 2,     /* nothing happened for too long */
};

typedef struct twin_msg_ref {
    char *name; /* NUL-terminated, valid UTF-8 */
    unsigned char oid[TWIN_OID_BYTES];
} twin_msg_ref;

/* One wrap on the wire (proto/SEALED.md 3 and 5): a listed one, or a later one with its maker
 * and signature. */
typedef struct twin_msg_wrap {
    unsigned char blob[TWIN_OID_BYTES];
    unsigned char to[TWIN_PUBKEY_BYTES];
    unsigned char box[TWIN_MSG_BOX_BYTES];
    bool signed_by; /* five values on the wire: by and sig hold */
    unsigned char by[TWIN_PUBKEY_BYTES];
    unsigned char sig[TWIN_MSG_SIG_BYTES];
} twin_msg_wrap;

/* A decoded or to-be-encoded message. Pointers are owned by the message after a decode
 * (release with twin_msg_clear); for encoding they are the caller's and are only read. */
typedef struct twin_msg {
    enum twin_msg_type type;
    union {
        struct {
            uint32_t versions[TWIN_MSG_VERSIONS_MAX];
            size_t nversions;
            char network_id[TWIN_NETWORK_ID_LEN + 1]; /* lowercase hex */
            unsigned char node[TWIN_PUBKEY_BYTES];
            bool has_head; /* false: the sender's history is empty (nil on the wire) */
            unsigned char head[TWIN_OID_BYTES];
            char software[TWIN_MSG_SOFTWARE_MAX + 1];
            /* The optional "ext": extensions the sender speaks; none (left out) when next is 0. */
            char ext[TWIN_MSG_EXT_MAX][TWIN_MSG_EXT_NAME_MAX + 1];
            size_t next;
        } hello;
        struct {
            twin_msg_ref *refs;
            size_t count;
        } refs;
        struct {
            unsigned char (*have)[TWIN_OID_BYTES];
            size_t nhave;
            unsigned char (*want)[TWIN_OID_BYTES];
            size_t nwant;
            bool done;
        } negotiate;
        struct {
            unsigned char (*common)[TWIN_OID_BYTES];
            size_t count;
        } ack;
        struct {
            uint64_t seq;
            unsigned char *data;
            size_t len;
            bool last;
        } pack;
        struct {
            unsigned char *commit;
            size_t commit_len;
            unsigned char parents[TWIN_MSG_PARENTS_MAX][TWIN_OID_BYTES];
            size_t nparents;
        } merge;
        struct {
            unsigned char head[TWIN_OID_BYTES];
        } accept;
        struct {
            uint32_t code; /* enum twin_refuse_code */
            char reason[TWIN_MSG_TEXT_MAX + 1];
        } refuse;
        struct {
            uint64_t nonce;
        } ping, pong;
        struct {
            uint32_t code; /* enum twin_wire_error */
            char message[TWIN_MSG_TEXT_MAX + 1];
        } error;
        struct {
            uint32_t code; /* enum twin_goodbye_code */
        } goodbye;
        struct {
            unsigned char secret[TWIN_INVITE_SECRET_BYTES];
            char name[TWIN_MSG_IDENTITY_MAX + 1];
            char org_id[TWIN_MSG_IDENTITY_MAX + 1];
            char country[TWIN_MSG_IDENTITY_MAX + 1];
            char side[TWIN_MSG_IDENTITY_MAX + 1];
            char org_type[TWIN_MSG_IDENTITY_MAX + 1]; /* "" when not given */
            char address[TWIN_MSG_IDENTITY_MAX + 1];  /* where the joiner serves; "" if not said */
        } claim;
        struct {
            char role[TWIN_MSG_IDENTITY_MAX + 1];
            unsigned char head[TWIN_OID_BYTES];
        } welcome;
        struct {
            char statement[TWIN_MSG_TEXT_MAX + 1];
            char signature[TWIN_MSG_SIGNATURE_MAX + 1];
        } checkpoint;
        struct {
            bool has_store; /* false: bin 0 on the wire, and since is 0 */
            unsigned char store[TWIN_MSG_STORE_BYTES];
            uint64_t since;
            bool has_mine; /* the optional "mine": the asking node's own store id */
            unsigned char mine[TWIN_MSG_STORE_BYTES];
        } wraps_since;
        struct {
            unsigned char store[TWIN_MSG_STORE_BYTES];
            uint64_t upto;
            twin_msg_wrap *items;
            size_t count;
            bool more;
        } wraps;
        struct {
            char type[TWIN_MSG_TYPE_MAX + 1];
        } unknown;
    } u;
} twin_msg;

/* The wire name of a type ("hello", ...), or NULL for TWIN_MSG_UNKNOWN. */
const char *twin_msg_type_name(enum twin_msg_type type);

/* Encodes msg into out (capacity cap). TWIN_ELIMIT when it exceeds cap or a field limit;
 * TWIN_EINVALID for a field the protocol forbids (e.g. a network id that is not hex). */
int twin_msg_encode(unsigned char *out, size_t cap, size_t *out_len, const twin_msg *msg);

/* Decodes one message. An unknown "type" gives TWIN_MSG_UNKNOWN with the name kept, not an
 * error; unknown fields are ignored. TWIN_EINVALID / TWIN_ELIMIT name the fault. */
int twin_msg_decode(twin_msg *out, const unsigned char *data, size_t len);

/* Whether a hello names the extension ext in its "ext". */
bool twin_msg_hello_has_ext(const twin_msg *hello, const char *ext);

/* Frees what a decode allocated and zeroes the message. */
void twin_msg_clear(twin_msg *msg);

#endif
