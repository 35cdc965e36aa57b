/* evfilter.c: parses and evaluates the SSE $filter (recursive descent over a bounded AST). */
#include "evfilter.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { OP_OR = 1, OP_AND, OP_NOT, OP_EQ, OP_NE };
enum { P_EVENT_TYPE, P_MESSAGE_ID, P_ORIGIN, P_REGISTRY, P_COUNT };

static const char *const props[P_COUNT] = {"EventType", "MessageId", "OriginResource",
                                           "RegistryPrefix"};

struct parser {
    struct evfilter *f;
    const char *s, *start;
    char *err;
    size_t errlen;
    int failed;
};

static void fail(struct parser *p, const char *what)
{
    if (!p->failed)
        snprintf(p->err, p->errlen, "$filter: %s at offset %d", what, (int)(p->s - p->start));
    p->failed = 1;
}

static void skip_ws(struct parser *p)
{
    while (*p->s == ' ' || *p->s == '\t')
        p->s++;
}

/* A word: letters, digits and the characters ids and URIs use. n = its length. */
static size_t word(struct parser *p)
{
    skip_ws(p);
    return strcspn(p->s, " \t()'");
}

static int keyword(struct parser *p, const char *kw)
{
    size_t n = word(p);
    if (n == strlen(kw) && !strncasecmp(p->s, kw, n)) {
        p->s += n;
        return 1;
    }
    return 0;
}

static int node(struct parser *p, int op, int prop, int l, int r)
{
    if (p->f->n == EVFILTER_NODES) {
        fail(p, "too many terms");
        return -1;
    }
    struct evnode *nd = &p->f->nodes[p->f->n];
    *nd = (struct evnode){.op = op, .prop = prop, .l = l, .r = r};
    return p->f->n++;
}

static int expr(struct parser *p, int depth);

static int comparison(struct parser *p)
{
    size_t n = word(p);
    int prop = -1;
    for (int i = 0; i < P_COUNT; i++)
        if (n == strlen(props[i]) && !strncmp(p->s, props[i], n))
            prop = i;
    if (prop < 0) {
        fail(p, "expected EventType, MessageId, OriginResource or RegistryPrefix");
        return -1;
    }
    p->s += n;
    int op = keyword(p, "eq") ? OP_EQ : keyword(p, "ne") ? OP_NE : 0;
    if (!op) {
        fail(p, "expected eq or ne");
        return -1;
    }
    skip_ws(p);
    const char *v = p->s;
    if (*v == '\'') {
        const char *end = strchr(v + 1, '\'');
        if (!end) {
            fail(p, "unterminated quoted value");
            return -1;
        }
        n = (size_t)(end - v - 1), v++, p->s = end + 1;
    } else {
        n = word(p), p->s += n;
    }
    if (n == 0 || n >= sizeof p->f->nodes[0].value) {
        fail(p, n ? "value too long" : "expected a value");
        return -1;
    }
    int i = node(p, op, prop, -1, -1);
    if (i >= 0)
        memcpy(p->f->nodes[i].value, v, n), p->f->nodes[i].value[n] = 0;
    return i;
}

static int unary(struct parser *p, int depth)
{
    if (depth > 8) {
        fail(p, "nested too deeply");
        return -1;
    }
    skip_ws(p);
    if (*p->s == '(') {
        p->s++;
        int i = expr(p, depth + 1);
        skip_ws(p);
        if (*p->s != ')') {
            fail(p, "expected )");
            return -1;
        }
        p->s++;
        return i;
    }
    if (keyword(p, "not")) {
        int i = unary(p, depth + 1);
        return i < 0 ? -1 : node(p, OP_NOT, 0, i, -1);
    }
    return comparison(p);
}

static int expr(struct parser *p, int depth)
{
    int l = unary(p, depth);
    while (l >= 0 && !p->failed) {
        const char *save = p->s;
        int op = keyword(p, "and") ? OP_AND : keyword(p, "or") ? OP_OR : 0;
        if (!op) {
            p->s = save;
            break;
        }
        /* "and" binds tighter: take one unary and any "and"s after it for the right side */
        int r = unary(p, depth);
        while (op == OP_OR && r >= 0) {
            const char *s2 = p->s;
            if (!keyword(p, "and")) {
                p->s = s2;
                break;
            }
            int rr = unary(p, depth);
            r = rr < 0 ? -1 : node(p, OP_AND, 0, r, rr);
        }
        l = r < 0 ? -1 : node(p, op, 0, l, r);
    }
    return p->failed ? -1 : l;
}

int evfilter_parse(struct evfilter *f, const char *text, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    struct parser p = {.f = f, .s = text, .start = text, .err = err, .errlen = errlen};
    f->root = expr(&p, 0);
    skip_ws(&p);
    if (!p.failed && *p.s)
        fail(&p, "unexpected text");
    if (p.failed || f->root < 0) {
        if (!p.failed)
            fail(&p, "empty expression");
        f->n = 0;
        return -1;
    }
    return 0;
}

/* MessageId "Reg.1.0.Name" against a value with or without the version ("Reg.Name"). */
static int message_id_eq(const char *mid, const char *v)
{
    if (!strcmp(mid, v))
        return 1;
    const char *vd = strchr(v, '.'), *md = strchr(mid, '.'), *mname = strrchr(mid, '.');
    return vd && md && mname && strchr(vd + 1, '.') == NULL && vd - v == md - mid &&
           !strncmp(v, mid, (size_t)(vd - v)) && !strcmp(vd + 1, mname + 1);
}

static int eval(const struct evfilter *f, int i, const struct event *e)
{
    const struct evnode *nd = &f->nodes[i];
    switch (nd->op) {
    case OP_OR:
        return eval(f, nd->l, e) || eval(f, nd->r, e);
    case OP_AND:
        return eval(f, nd->l, e) && eval(f, nd->r, e);
    case OP_NOT:
        return !eval(f, nd->l, e);
    default:
        break;
    }
    int eq;
    size_t rl;
    switch (nd->prop) {
    case P_EVENT_TYPE:
        eq = !strcmp(e->type, nd->value);
        break;
    case P_MESSAGE_ID:
        eq = message_id_eq(e->message_id, nd->value);
        break;
    case P_ORIGIN:
        eq = !strcmp(e->origin, nd->value);
        break;
    default: /* RegistryPrefix: the MessageId up to its first dot */
        rl = strcspn(e->message_id, ".");
        eq = rl == strlen(nd->value) && !strncmp(e->message_id, nd->value, rl);
        break;
    }
    return nd->op == OP_EQ ? eq : !eq;
}

int evfilter_match(const struct evfilter *f, const struct event *e)
{
    return f->n == 0 || eval(f, f->root, e);
}
