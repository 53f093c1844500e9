/*
 * cmd_wer.c — `hark wer REF HYP`: error rates of hypotheses against references, utterance by
 * utterance (matched by id), after openai/whisper's normalization; totals, substitutions,
 * insertions and deletions as sclite counts them (wer.h), per-utterance alignments and the
 * worst utterances; character error rate for Chinese and Japanese text.
 *
 * Transcript files, one utterance a line, in any of the forms people have: "ID<TAB>text" (a TSV;
 * the seed's trans.txt), "ID text" (Kaldi's text file), or "text (ID)" (sclite's trn).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "normalize.h"
#include "score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct utt {
    char *id, *text;
} utt;

typedef struct utts {
    utt *u;
    int n, cap;
} utts;

static void utts_free(utts *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->u[i].id), free(t->u[i].text);
    free(t->u);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t k = strlen(s);
    while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\n' || s[k - 1] == '\r'))
        s[--k] = 0;
    return s;
}

/* Whether line (trailing whitespace removed) is in sclite's trn form, "text (ID)". */
static int is_trn(const char *line)
{
    size_t k = strlen(line);
    const char *open = strrchr(line, '(');
    return k > 2 && line[k - 1] == ')' && open && open[1] != ')' &&
           (open == line || open[-1] == ' ' || open[-1] == '\t');
}

/* One line into id and text (pointers into line), trn when trn is set, else "ID<TAB>text" or
 * "ID text"; 0, or -1 when it has no id. */
static int split_line(char *line, int trn, char **id, char **text)
{
    size_t k = strlen(line);
    if (trn) {
        char *open = strrchr(line, '(');
        line[k - 1] = 0;
        *id = trim(open + 1);
        *open = 0;
        *text = trim(line);
        return **id ? 0 : -1;
    }
    if (line[0] == ' ' || line[0] == '\t')
        return -1;
    char *sep = strchr(line, '\t');
    if (!sep)
        sep = strchr(line, ' ');
    *id = line;
    *text = sep ? sep + 1 : line + k;
    if (sep)
        *sep = 0;
    *text = trim(*text);
    return 0;
}

static void rtrim(char *s)
{
    size_t k = strlen(s);
    while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\n' || s[k - 1] == '\r'))
        s[--k] = 0;
}

/* Reads a transcript file (trn when every line is "text (ID)"); 0, or -1 after printing what
 * is wrong (with the line number). */
static int read_utts(const char *path, utts *out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hark wer: cannot read %s\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int trn = 1, lines = 0, lineno = 0, rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        rtrim(line);
        if (*line)
            trn &= is_trn(line), lines++;
    }
    trn &= lines > 0;
    rewind(f);
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        rtrim(line);
        char *id, *text;
        if (!*line)
            continue;
        if (split_line(line, trn, &id, &text) != 0) {
            fprintf(stderr, "hark wer: %s:%d: no utterance id: '%.80s'\n", path, lineno, line);
            rc = -1;
            continue;
        }
        if (out->n == out->cap) {
            int nc = out->cap ? 2 * out->cap : 64;
            utt *u = realloc(out->u, (size_t)nc * sizeof(utt));
            if (!u) {
                rc = -1;
                break;
            }
            out->u = u, out->cap = nc;
        }
        out->u[out->n].id = strdup(id);
        out->u[out->n].text = strdup(text);
        if (!out->u[out->n].id || !out->u[out->n].text) {
            free(out->u[out->n].id), free(out->u[out->n].text);
            rc = -1;
            break;
        }
        out->n++;
    }
    free(line);
    fclose(f);
    return rc;
}

static const utt *find(const utts *t, const char *id)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->u[i].id, id))
            return &t->u[i];
    return NULL;
}

/* Each line of path normalized ("--english", "--remove-diacritics" or basic), in [brackets]. */
static int normalize_file(const char *path, const char *how, const char *spelling)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hark wer: cannot read %s\n", path);
        return 1;
    }
    scorer sc = { 0 };
    const char *refs[1] = { "english" };
    int english = !strcmp(how, "--english"), rc = 0;
    if (english && scorer_init(&sc, "english", "wer", refs, 1, spelling) != 0) {
        fclose(f);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t k;
    while ((k = getline(&line, &cap, f)) >= 0) {
        while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r'))
            line[--k] = 0;
        char *x = english ? en_normalize(sc.en, line)
                          : normalize_basic(line, !strcmp(how, "--remove-diacritics"));
        if (!x) {
            fprintf(stderr, "hark wer: not UTF-8: '%.60s'\n", line);
            rc = 1;
            printf("[]\n");
            continue;
        }
        printf("[%s]\n", x);
        free(x);
    }
    free(line);
    fclose(f);
    if (english)
        scorer_free(&sc);
    return rc;
}

static void wer_usage(FILE *f)
{
    fprintf(f,
            "usage: hark wer REF HYP [--normalizer auto|english|basic|basic-diacritics|none]\n"
            "                [--metric auto|wer|cer] [--alignments] [--worst N] [--json FILE]\n"
            "                [--spelling english.json]\n"
            "       hark wer --normalize TEXT [--english|--remove-diacritics]  (prints it)\n"
            "       hark wer --normalize-file FILE [--english|--remove-diacritics]  (each line)\n"
            "REF and HYP: one utterance a line, 'ID<TAB>text', 'ID text' (Kaldi) or 'text (ID)'\n"
            "(sclite trn); utterances are matched by ID. Normalizer auto: openai/whisper's\n"
            "English one for English references, its basic one otherwise. Counts as NIST\n"
            "sclite's (substitution 4, insertion and deletion 3). --metric auto: character error\n"
            "rate when the references are mostly Chinese, Japanese or Korean. --alignments prints\n"
            "every utterance's alignment, --worst N the N with most errors (default 5).\n");
}

/* One utterance's result. */
typedef struct scored {
    const char *id;
    char **ref, **hyp;
    int nr, nh, n_ops;
    wer_op *ops;
    wer_counts c;
} scored;

static int cps(const char *s) /* code points, for column widths */
{
    int n = 0;
    for (; *s; s++)
        n += (*s & 0xc0) != 0x80;
    return n;
}

/* REF / HYP / Eval lines, one column per operation, '***' for a gap. */
static void print_alignment(FILE *f, const scored *u)
{
    fprintf(f, "id: %s  (C %ld S %ld D %ld I %ld)\n", u->id, u->c.cor, u->c.sub, u->c.del,
            u->c.ins);
    const char *names[3] = { "REF: ", "HYP: ", "Eval:" };
    for (int line = 0; line < 3; line++) {
        fputs(names[line], f);
        int i = 0, j = 0;
        for (int k = 0; k < u->n_ops; k++) {
            wer_op op = u->ops[k];
            const char *r = op == WER_INS ? "***" : u->ref[i];
            const char *h = op == WER_DEL ? "***" : u->hyp[j];
            int w = cps(r) > cps(h) ? cps(r) : cps(h);
            const char *s = line == 0 ? r : line == 1 ? h
                          : op == WER_SUB ? "S" : op == WER_DEL ? "D" : op == WER_INS ? "I" : "";
            fprintf(f, " %s%*s", s, w - cps(s), "");
            i += op != WER_INS;
            j += op != WER_DEL;
        }
        fputc('\n', f);
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void print_json(FILE *f, const scored *s, int n, const wer_counts *t, int cer,
                       const char *norm)
{
    fprintf(f, "{\"metric\":\"%s\",\"normalizer\":\"%s\",\"rate\":%.6f,\"utterances\":%d,"
               "\"ref\":%ld,\"hyp\":%ld,\"cor\":%ld,\"sub\":%ld,\"del\":%ld,\"ins\":%ld,"
               "\"per_utterance\":[",
            cer ? "cer" : "wer", norm, wer_rate(t), n, t->ref, t->hyp, t->cor, t->sub, t->del,
            t->ins);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s{\"id\":", i ? "," : "");
        json_str(f, s[i].id);
        fprintf(f, ",\"ref\":%ld,\"cor\":%ld,\"sub\":%ld,\"del\":%ld,\"ins\":%ld}", s[i].c.ref,
                s[i].c.cor, s[i].c.sub, s[i].c.del, s[i].c.ins);
    }
    fprintf(f, "]}\n");
}

static long errors(const scored *s) { return s->c.sub + s->c.del + s->c.ins; }

int cmd_wer(int argc, char **argv)
{
    const char *ref_path = NULL, *hyp_path = NULL, *norm = "auto", *metric = "auto",
               *json = NULL, *spelling = NULL;
    int show_all = 0, worst = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            wer_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--normalizer") && v) {
            norm = v, i++;
        } else if (!strcmp(a, "--metric") && v) {
            metric = v, i++;
        } else if (!strcmp(a, "--json") && v) {
            json = v, i++;
        } else if (!strcmp(a, "--spelling") && v) {
            spelling = v, i++;
        } else if (!strcmp(a, "--worst") && v) {
            worst = (int)cli_long(v), i++;
        } else if (!strcmp(a, "--alignments")) {
            show_all = 1;
        } else if ((!strcmp(a, "--normalize") || !strcmp(a, "--normalize-file")) && v) {
            /* print one text (or each line of a file) normalized, in [brackets] */
            const char *how = i + 2 < argc ? argv[i + 2] : "";
            if (!strcmp(a, "--normalize-file"))
                return normalize_file(v, how, spelling);
            scorer sc;
            const char *refs[1] = { "english" };
            if (!strcmp(how, "--english") &&
                scorer_init(&sc, "english", "wer", refs, 1, spelling) != 0)
                return 1;
            char *x = !strcmp(how, "--english")
                          ? en_normalize(sc.en, v)
                          : normalize_basic(v, !strcmp(how, "--remove-diacritics"));
            if (!strcmp(how, "--english"))
                scorer_free(&sc);
            if (!x) {
                fprintf(stderr, "hark wer: not UTF-8, or out of memory\n");
                return 1;
            }
            printf("[%s]\n", x);
            free(x);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hark wer: unknown option or missing value: %s\n", a);
            return 2;
        } else if (!ref_path) {
            ref_path = a;
        } else if (!hyp_path) {
            hyp_path = a;
        } else {
            fprintf(stderr, "hark wer: one REF and one HYP file\n");
            return 2;
        }
    }
    if (!ref_path || !hyp_path || worst < 0) {
        wer_usage(stderr);
        return 2;
    }
    utts ref = { 0 }, hyp = { 0 };
    int rc = read_utts(ref_path, &ref) | read_utts(hyp_path, &hyp);
    if (rc != 0 || ref.n <= 0) {
        if (rc == 0)
            fprintf(stderr, "hark wer: %s has no utterances\n", ref_path);
        utts_free(&ref), utts_free(&hyp);
        return 1;
    }
    const char **texts = malloc((size_t)ref.n * sizeof(char *));
    scorer sc;
    for (int i = 0; texts && i < ref.n; i++)
        texts[i] = ref.u[i].text;
    rc = texts ? scorer_init(&sc, norm, metric, texts, ref.n, spelling) : -1;
    free(texts);
    if (rc != 0) {
        utts_free(&ref), utts_free(&hyp);
        return rc == 2 ? 2 : 1;
    }
    const int cer = sc.cer;
    norm = sc.norm;
    scored *s = calloc((size_t)ref.n, sizeof(scored));
    wer_counts total = { 0 };
    int missing = 0, failed = !s;
    for (int i = 0; s && i < ref.n && !failed; i++) {
        const utt *h = find(&hyp, ref.u[i].id);
        missing += h == NULL;
        s[i].id = ref.u[i].id;
        s[i].nr = scorer_tokens(&sc, ref.u[i].text, &s[i].ref);
        s[i].nh = scorer_tokens(&sc, h ? h->text : "", &s[i].hyp);
        s[i].ops = s[i].nr >= 0 && s[i].nh >= 0
                       ? malloc(((size_t)s[i].nr + (size_t)s[i].nh + 1) * sizeof(wer_op))
                       : NULL;
        if (!s[i].ops || (s[i].n_ops = wer_align(s[i].ref, s[i].nr, s[i].hyp, s[i].nh, &s[i].c,
                                                 s[i].ops)) < 0)
            failed = 1;
        else
            total.ref += s[i].c.ref, total.hyp += s[i].c.hyp, total.cor += s[i].c.cor,
                total.sub += s[i].c.sub, total.del += s[i].c.del, total.ins += s[i].c.ins;
    }
    if (failed) {
        fprintf(stderr, "hark wer: out of memory or text that is not UTF-8\n");
        rc = 1;
    } else {
        int extra = 0, wrong = 0;
        for (int i = 0; i < hyp.n; i++)
            extra += find(&ref, hyp.u[i].id) == NULL;
        for (int i = 0; i < ref.n; i++)
            wrong += errors(&s[i]) > 0;
        if (missing)
            fprintf(stderr, "hark wer: %d references have no hypothesis (scored as empty)\n",
                    missing);
        if (extra)
            fprintf(stderr, "hark wer: %d hypotheses have no reference (ignored)\n", extra);
        for (int i = 0; show_all && i < ref.n; i++)
            print_alignment(stdout, &s[i]);
        printf("%s %.2f%%  [%ld errors / %ld reference %s]  substitutions %ld, deletions %ld, "
               "insertions %ld; %d utterances, %d with errors (%.1f%%)\n",
               cer ? "CER" : "WER", 100.0 * wer_rate(&total), total.sub + total.del + total.ins,
               total.ref, cer ? "characters" : "words", total.sub, total.del, total.ins, ref.n,
               wrong, 100.0 * wrong / ref.n);
        for (int k = 0; !show_all && k < worst && k < wrong; k++) { /* the worst, in order */
            int best = -1;
            for (int i = 0; i < ref.n; i++)
                if (s[i].n_ops >= 0 && errors(&s[i]) > 0 &&
                    (best < 0 || errors(&s[i]) > errors(&s[best])))
                    best = i;
            if (best < 0)
                break;
            if (k == 0)
                printf("\nworst utterances:\n");
            print_alignment(stdout, &s[best]);
            s[best].n_ops = -s[best].n_ops - 1; /* printed */
        }
        for (int i = 0; i < ref.n; i++)
            if (s[i].n_ops < 0)
                s[i].n_ops = -s[i].n_ops - 1;
        FILE *jf = json ? (!strcmp(json, "-") ? stdout : fopen(json, "w")) : NULL;
        if (json && !jf) {
            fprintf(stderr, "hark wer: cannot write %s\n", json);
            rc = 1;
        } else if (jf) {
            print_json(jf, s, ref.n, &total, cer, norm);
            if (jf != stdout)
                fclose(jf);
        }
    }
    for (int i = 0; s && i < ref.n; i++) {
        wer_tokens_free(s[i].ref, s[i].nr);
        wer_tokens_free(s[i].hyp, s[i].nh);
        free(s[i].ops);
    }
    free(s);
    scorer_free(&sc);
    utts_free(&ref), utts_free(&hyp);
    return rc;
}
