/*
 * pickle.c — a small pickle VM for the programs torch.save writes (protocol 2): dicts, lists,
 * tuples, strings, numbers, OrderedDict, tensors rebuilt from persistent storages. It builds
 * plain objects; it never imports or calls anything: the few callables torch uses are
 * recognised by name and anything else is refused.
 * ref: CPython Lib/pickletools.py (opcode table), pytorch torch/serialization.py
 * (persistent_id tuples) and torch/_utils.py (_rebuild_tensor_v2 arguments).
 */
#include "model/pt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PK_MAX_OBJECTS (1 << 20)
#define PK_MAX_STACK (1 << 16)
#define PK_MAX_MEMO (1 << 20)
#define PK_MAX_ITEMS (1 << 24)
#define PK_MAX_STRBYTES ((size_t)64 << 20)

struct pk_vm {
    const char *ctx;
    pk_obj **objs; /* every object, for freeing */
    size_t n_objs, cap_objs;
    pk_obj **stack;
    size_t sp;
    size_t *marks;
    size_t n_marks;
    pk_obj **memo;
    size_t cap_memo, memo_next;
    size_t n_items, str_bytes;
    const uint8_t *p;
    size_t size, pc;
};

static hark_status pk_err(pk_vm *vm, const char *what)
{
    return hark_fail(HARK_ERR_FORMAT, "%s: data.pkl byte %zu: %s", vm->ctx, vm->pc, what);
}

static pk_obj *pk_new(pk_vm *vm, pk_kind kind)
{
    if (vm->n_objs == PK_MAX_OBJECTS)
        return NULL;
    if (vm->n_objs == vm->cap_objs) {
        size_t cap = vm->cap_objs ? 2 * vm->cap_objs : 256;
        pk_obj **o = realloc(vm->objs, cap * sizeof(*o));
        if (!o)
            return NULL;
        vm->objs = o;
        vm->cap_objs = cap;
    }
    pk_obj *o = calloc(1, sizeof(*o));
    if (o) {
        o->kind = kind;
        o->dtype = -1;
        vm->objs[vm->n_objs++] = o;
    }
    return o;
}

static hark_status pk_push(pk_vm *vm, pk_obj *o)
{
    if (!o)
        return hark_fail(HARK_ERR_NOMEM, "%s: data.pkl: out of memory or more than %d objects",
                         vm->ctx, PK_MAX_OBJECTS);
    if (vm->sp == PK_MAX_STACK)
        return pk_err(vm, "stack too deep");
    vm->stack[vm->sp++] = o;
    return HARK_OK;
}

static pk_obj *pk_pop(pk_vm *vm)
{
    if (vm->sp == 0 || (vm->n_marks && vm->sp <= vm->marks[vm->n_marks - 1]))
        return NULL;
    return vm->stack[--vm->sp];
}

static hark_status pk_append(pk_vm *vm, pk_obj *c, pk_obj *item)
{
    if (++vm->n_items > PK_MAX_ITEMS)
        return pk_err(vm, "too many container items");
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4;
        pk_obj **it = realloc(c->items, cap * sizeof(*it));
        if (!it)
            return hark_fail(HARK_ERR_NOMEM, "%s: data.pkl: out of memory", vm->ctx);
        c->items = it;
        c->cap = cap;
    }
    c->items[c->n++] = item;
    return HARK_OK;
}

static int pk_need(pk_vm *vm, size_t n) { return vm->size - vm->pc >= n; }

static uint64_t pk_le(pk_vm *vm, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | vm->p[vm->pc + (size_t)i];
    vm->pc += (size_t)n;
    return v;
}

static pk_obj *pk_str(pk_vm *vm, const uint8_t *s, size_t n)
{
    if (n > PK_MAX_STRBYTES - vm->str_bytes)
        return NULL;
    pk_obj *o = pk_new(vm, PK_STR);
    if (!o || !(o->s = malloc(n + 1)))
        return NULL;
    memcpy(o->s, s, n);
    o->s[n] = 0;
    o->n = 0;
    o->i = (int64_t)n;
    vm->str_bytes += n;
    return o;
}

static pk_obj *pk_int(pk_vm *vm, int64_t v)
{
    pk_obj *o = pk_new(vm, PK_INT);
    if (o)
        o->i = v;
    return o;
}

/* Pops items down to the last mark into a new container of kind. */
static hark_status pk_collect(pk_vm *vm, pk_kind kind, pk_obj **out)
{
    if (!vm->n_marks)
        return pk_err(vm, "no mark");
    size_t m = vm->marks[--vm->n_marks];
    pk_obj *o = pk_new(vm, kind);
    if (!o)
        return pk_push(vm, NULL);
    for (size_t i = m; i < vm->sp; i++) {
        hark_status st = pk_append(vm, o, vm->stack[i]);
        if (st != HARK_OK)
            return st;
    }
    vm->sp = m;
    *out = o;
    return HARK_OK;
}

static hark_status pk_memo_put(pk_vm *vm, uint64_t idx)
{
    if (idx >= PK_MAX_MEMO)
        return pk_err(vm, "memo index too large");
    if (!vm->sp)
        return pk_err(vm, "PUT on an empty stack");
    if (idx >= vm->cap_memo) {
        size_t cap = vm->cap_memo ? vm->cap_memo : 64;
        while (cap <= idx)
            cap *= 2;
        pk_obj **m = realloc(vm->memo, cap * sizeof(*m));
        if (!m)
            return hark_fail(HARK_ERR_NOMEM, "%s: data.pkl: out of memory", vm->ctx);
        memset(m + vm->cap_memo, 0, (cap - vm->cap_memo) * sizeof(*m));
        vm->memo = m;
        vm->cap_memo = cap;
    }
    vm->memo[idx] = vm->stack[vm->sp - 1];
    vm->memo_next = idx + 1 > vm->memo_next ? idx + 1 : vm->memo_next;
    return HARK_OK;
}

static hark_status pk_memo_get(pk_vm *vm, uint64_t idx)
{
    if (idx >= vm->cap_memo || !vm->memo[idx])
        return pk_err(vm, "GET of an unset memo entry");
    return pk_push(vm, vm->memo[idx]);
}

static hark_status pk_setitems(pk_vm *vm, size_t from)
{
    if (from == 0 || vm->stack[from - 1]->kind != PK_DICT || (vm->sp - from) % 2)
        return pk_err(vm, "SETITEM(S) needs a dict and key/value pairs");
    pk_obj *d = vm->stack[from - 1];
    for (size_t i = from; i < vm->sp; i++) {
        hark_status st = pk_append(vm, d, vm->stack[i]);
        if (st != HARK_OK)
            return st;
    }
    vm->sp = from;
    return HARK_OK;
}

static hark_status pk_appends(pk_vm *vm, size_t from)
{
    if (from == 0 || vm->stack[from - 1]->kind != PK_LIST)
        return pk_err(vm, "APPEND(S) needs a list");
    pk_obj *l = vm->stack[from - 1];
    for (size_t i = from; i < vm->sp; i++) {
        hark_status st = pk_append(vm, l, vm->stack[i]);
        if (st != HARK_OK)
            return st;
    }
    vm->sp = from;
    return HARK_OK;
}

static hark_status pk_global(pk_vm *vm)
{
    const uint8_t *s = vm->p + vm->pc;
    size_t left = vm->size - vm->pc, a = 0, b;
    while (a < left && a < 256 && s[a] != '\n')
        a++;
    for (b = a + 1; b < left && b - a < 256 && s[b] != '\n'; b++)
        ;
    if (a >= left || b >= left || s[a] != '\n' || s[b] != '\n')
        return pk_err(vm, "GLOBAL: unterminated name");
    pk_obj *o = pk_new(vm, PK_GLOBAL);
    if (!o || !(o->s = malloc(b + 1)))
        return pk_push(vm, NULL);
    memcpy(o->s, s, a);
    o->s[a] = '.';
    memcpy(o->s + a + 1, s + a + 1, b - a - 1);
    o->s[b] = 0;
    vm->pc += b + 1;
    return pk_push(vm, o);
}

static int pk_storage_dtype(const char *g)
{
    if (strcmp(g, "torch.HalfStorage") == 0)
        return HARK_DTYPE_F16;
    if (strcmp(g, "torch.FloatStorage") == 0)
        return HARK_DTYPE_F32;
    if (strcmp(g, "torch.BFloat16Storage") == 0)
        return HARK_DTYPE_BF16;
    return -1;
}

/* ('storage', storage_type, key, location, numel) -> STORAGE. */
static hark_status pk_persistent(pk_vm *vm)
{
    pk_obj *pid = pk_pop(vm);
    if (!pid || pid->kind != PK_TUPLE || pid->n != 5 || pid->items[0]->kind != PK_STR ||
        strcmp(pid->items[0]->s, "storage") != 0 || pid->items[1]->kind != PK_GLOBAL ||
        pid->items[2]->kind != PK_STR || pid->items[4]->kind != PK_INT || pid->items[4]->i < 0)
        return pk_err(vm, "persistent id is not a torch storage tuple");
    pk_obj *o = pk_new(vm, PK_STORAGE);
    if (!o)
        return pk_push(vm, NULL);
    o->dtype = pk_storage_dtype(pid->items[1]->s);
    o->s = pid->items[2]->s; /* owned by the key string object */
    o->i = pid->items[4]->i;
    o->storage = pid->items[1]; /* keeps the type name for errors */
    return pk_push(vm, o);
}

static int pk_int_tuple(const pk_obj *t, int64_t *out, int max)
{
    if (t->kind != PK_TUPLE || t->n > (size_t)max)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i]->kind != PK_INT || t->items[i]->i < 0 || t->items[i]->i > ((int64_t)1 << 40))
            return -1;
        out[i] = t->items[i]->i;
    }
    return (int)t->n;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]). */
static hark_status pk_rebuild_tensor(pk_vm *vm, const pk_obj *args, pk_obj **out)
{
    if (args->n < 4 || args->items[0]->kind != PK_STORAGE || args->items[1]->kind != PK_INT ||
        args->items[1]->i < 0)
        return pk_err(vm, "_rebuild_tensor_v2: bad arguments");
    pk_obj *t = pk_new(vm, PK_TENSOR);
    if (!t)
        return pk_push(vm, NULL);
    int nd = pk_int_tuple(args->items[2], t->shape, 4);
    int ns = pk_int_tuple(args->items[3], t->stride, 4);
    if (nd < 0 || ns != nd)
        return hark_fail(HARK_ERR_UNSUPPORTED, "%s: data.pkl: a tensor of more than 4 dims or "
                         "with bad size/stride", vm->ctx);
    t->ndim = nd;
    t->storage = args->items[0];
    t->dtype = t->storage->dtype;
    t->i = args->items[1]->i;
    *out = t;
    return HARK_OK;
}

static hark_status pk_reduce(pk_vm *vm)
{
    pk_obj *args = pk_pop(vm), *fn = pk_pop(vm), *r = NULL;
    if (!args || !fn || args->kind != PK_TUPLE || fn->kind != PK_GLOBAL)
        return pk_err(vm, "REDUCE needs a global and an argument tuple");
    hark_status st = HARK_OK;
    if (strcmp(fn->s, "collections.OrderedDict") == 0) {
        r = pk_new(vm, PK_DICT);
        if (!r)
            return pk_push(vm, NULL);
    } else if (strcmp(fn->s, "torch._utils._rebuild_tensor_v2") == 0) {
        st = pk_rebuild_tensor(vm, args, &r);
    } else if (strcmp(fn->s, "torch._utils._rebuild_parameter") == 0) {
        if (args->n < 1 || args->items[0]->kind != PK_TENSOR)
            return pk_err(vm, "_rebuild_parameter: bad arguments");
        r = args->items[0];
    } else {
        return hark_fail(HARK_ERR_UNSUPPORTED, "%s: data.pkl calls %.200s, which hark does not "
                         "know", vm->ctx, fn->s);
    }
    return st == HARK_OK ? pk_push(vm, r) : st;
}

/* Executes one opcode; *done is set by STOP. */
static hark_status pk_step(pk_vm *vm, int *done)
{
    uint8_t op = vm->p[vm->pc++];
    pk_obj *o = NULL;
    hark_status st;
    size_t n;
    switch (op) {
    case 0x80: /* PROTO */
        if (!pk_need(vm, 1))
            return pk_err(vm, "truncated");
        vm->pc++;
        return HARK_OK;
    case '}': return pk_push(vm, pk_new(vm, PK_DICT));
    case ']': return pk_push(vm, pk_new(vm, PK_LIST));
    case ')': return pk_push(vm, pk_new(vm, PK_TUPLE));
    case 'N': return pk_push(vm, pk_new(vm, PK_NONE));
    case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
        if ((o = pk_new(vm, PK_BOOL)))
            o->i = op == 0x88;
        return pk_push(vm, o);
    case '(': /* MARK */
        if (vm->n_marks == PK_MAX_STACK)
            return pk_err(vm, "too many marks");
        vm->marks[vm->n_marks++] = vm->sp;
        return HARK_OK;
    case 'X': case 0x8c: /* BINUNICODE, SHORT_BINUNICODE */
        if (!pk_need(vm, op == 'X' ? 4 : 1))
            return pk_err(vm, "truncated");
        n = (size_t)pk_le(vm, op == 'X' ? 4 : 1);
        if (!pk_need(vm, n))
            return pk_err(vm, "truncated string");
        o = pk_str(vm, vm->p + vm->pc, n);
        vm->pc += n;
        return pk_push(vm, o);
    case 'q': case 'r': case 'h': case 'j': /* BINPUT, LONG_BINPUT, BINGET, LONG_BINGET */
        if (!pk_need(vm, op == 'q' || op == 'h' ? 1 : 4))
            return pk_err(vm, "truncated");
        n = (size_t)pk_le(vm, op == 'q' || op == 'h' ? 1 : 4);
        return op == 'q' || op == 'r' ? pk_memo_put(vm, n) : pk_memo_get(vm, n);
    case 0x94: /* MEMOIZE */
        return pk_memo_put(vm, vm->memo_next);
    case 'J': case 'K': case 'M': { /* BININT, BININT1, BININT2 */
        int w = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        if (!pk_need(vm, (size_t)w))
            return pk_err(vm, "truncated");
        uint64_t v = pk_le(vm, w);
        return pk_push(vm, pk_int(vm, op == 'J' ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v));
    }
    case 0x8a: { /* LONG1 */
        if (!pk_need(vm, 1))
            return pk_err(vm, "truncated");
        n = vm->p[vm->pc++];
        if (n > 8 || !pk_need(vm, n))
            return pk_err(vm, "LONG1 wider than 64 bits or truncated");
        uint64_t v = n ? pk_le(vm, (int)n) : 0;
        if (n && n < 8 && (v >> (8 * n - 1)) & 1)
            v |= ~(uint64_t)0 << (8 * n);
        return pk_push(vm, pk_int(vm, (int64_t)v));
    }
    case 'G': { /* BINFLOAT, big-endian */
        if (!pk_need(vm, 8))
            return pk_err(vm, "truncated");
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | vm->p[vm->pc++];
        if ((o = pk_new(vm, PK_FLOAT)))
            memcpy(&o->f, &v, 8);
        return pk_push(vm, o);
    }
    case 't':
        if ((st = pk_collect(vm, PK_TUPLE, &o)) != HARK_OK)
            return st;
        return pk_push(vm, o);
    case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
        int k = op - 0x84;
        pk_obj *it[3];
        for (int i = k - 1; i >= 0; i--)
            if (!(it[i] = pk_pop(vm)))
                return pk_err(vm, "TUPLE on a short stack");
        if (!(o = pk_new(vm, PK_TUPLE)))
            return pk_push(vm, NULL);
        for (int i = 0; i < k; i++)
            if ((st = pk_append(vm, o, it[i])) != HARK_OK)
                return st;
        return pk_push(vm, o);
    }
    case 's':
        if (vm->sp < 3 || (vm->n_marks && vm->sp - 2 <= vm->marks[vm->n_marks - 1]))
            return pk_err(vm, "SETITEM on a short stack");
        return pk_setitems(vm, vm->sp - 2);
    case 'a':
        if (vm->sp < 2 || (vm->n_marks && vm->sp - 1 <= vm->marks[vm->n_marks - 1]))
            return pk_err(vm, "APPEND on a short stack");
        return pk_appends(vm, vm->sp - 1);
    case 'u': case 'e': /* SETITEMS, APPENDS */
        if (!vm->n_marks)
            return pk_err(vm, "no mark");
        n = vm->marks[--vm->n_marks];
        return op == 'u' ? pk_setitems(vm, n) : pk_appends(vm, n);
    case 'c': return pk_global(vm);
    case 'R': return pk_reduce(vm);
    case 'b': /* BUILD: the state (e.g. a state dict's _metadata) is not needed */
        if (!pk_pop(vm) || vm->sp == 0)
            return pk_err(vm, "BUILD on a short stack");
        return HARK_OK;
    case 'Q': return pk_persistent(vm);
    case '.':
        *done = 1;
        return HARK_OK;
    default:
        return hark_fail(HARK_ERR_UNSUPPORTED, "%s: data.pkl byte %zu: pickle opcode 0x%02x "
                         "('%c') is not supported", vm->ctx, vm->pc - 1, op,
                         op >= 32 && op < 127 ? op : '?');
    }
}

hark_status hark_pickle_load(const char *ctx, const uint8_t *data, size_t size, pk_vm **out,
                             pk_obj **root)
{
    pk_vm *vm = calloc(1, sizeof(*vm));
    *out = vm;
    *root = NULL;
    if (!vm)
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", ctx);
    vm->ctx = ctx;
    vm->p = data;
    vm->size = size;
    vm->stack = malloc(PK_MAX_STACK * sizeof(*vm->stack));
    vm->marks = malloc(PK_MAX_STACK * sizeof(*vm->marks));
    if (!vm->stack || !vm->marks)
        return hark_fail(HARK_ERR_NOMEM, "%s: out of memory", ctx);
    int done = 0;
    while (!done) {
        if (vm->pc >= vm->size)
            return pk_err(vm, "truncated: no STOP");
        hark_status st = pk_step(vm, &done);
        if (st != HARK_OK)
            return st;
    }
    if (vm->sp != 1)
        return pk_err(vm, "STOP with a stack that does not hold exactly one object");
    *root = vm->stack[0];
    return HARK_OK;
}

void hark_pickle_free(pk_vm *vm)
{
    if (!vm)
        return;
    for (size_t i = 0; i < vm->n_objs; i++) {
        if (vm->objs[i]->kind != PK_STORAGE)
            free(vm->objs[i]->s);
        free(vm->objs[i]->items);
        free(vm->objs[i]);
    }
    free(vm->objs);
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
    free(vm);
}

const pk_obj *pk_dict_get(const pk_obj *d, const char *key)
{
    if (!d || d->kind != PK_DICT)
        return NULL;
    for (size_t i = 0; i + 1 < d->n; i += 2)
        if (d->items[i]->kind == PK_STR && strcmp(d->items[i]->s, key) == 0)
            return d->items[i + 1];
    return NULL;
}
