/* cli.h — the hark command's subcommands and the small helpers they share. */
#ifndef HARK_CLI_H
#define HARK_CLI_H

#include "hark.h"

int cmd_transcribe(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_info(int argc, char **argv);
#ifdef HARK_WITH_DOWNLOAD
int cmd_download(int argc, char **argv);
#endif
#ifdef HARK_WITH_SERVER
int cmd_serve(int argc, char **argv);
#endif
#ifdef HARK_WITH_CLIENT
int cmd_client(int argc, char **argv);
#endif
#ifdef HARK_WITH_WER
int cmd_wer(int argc, char **argv);
int cmd_eval(int argc, char **argv);
#endif

/* Seconds on the monotonic clock (for durations). */
double cli_now(void);
/* Prints "hark: <what>: <status detail>" to stderr and returns 1. */
int cli_error(const char *what, hark_status st);
/* Parses a non-negative integer option value; returns -1 on junk. */
long cli_long(const char *s);
/* Loads a model on device (NULL: cpu) as dtype (-1: the file's), the encoder in FP8 when
 * encoder_fp8 (hark_model_params), printing the error on failure. */
hark_model *cli_load_model(const char *path, int n_threads, const char *device, int dtype,
                           int encoder_fp8);
/* "f16", "bf16", "f32" -> a hark_dtype; NULL -> -1 (the file's type); anything else -> -2. */
int cli_parse_dtype(const char *s);

/* Command-line options (cli_opts.c): CLI_STR stores the argument (const char *), CLI_LONG a
 * non-negative integer (long), CLI_FLOAT a finite float, CLI_OPT_FLOAT also "none" (NAN),
 * CLI_BOOL true/false/yes/no/1/0/on/off (int), CLI_FLAG sets an int to 1 and takes no value,
 * CLI_STRS appends the argument to a cli_strs (an option given up to max times). */
typedef enum cli_opt_kind {
    CLI_STR, CLI_LONG, CLI_FLOAT, CLI_OPT_FLOAT, CLI_BOOL, CLI_FLAG, CLI_STRS
} cli_opt_kind;
typedef struct cli_strs {
    const char **v; /* [max] */
    int max, n;
} cli_strs;
typedef struct cli_opt {
    const char *name;  /* long name without "--", words joined by '-' ('_' accepted too) */
    const char *alias; /* a second long name or a one-letter short name, or NULL */
    cli_opt_kind kind;
    void *dst;
} cli_opt;
/* Parses argv[1 ..] of subcommand cmd: "--name value", "--name=value", "-x value" and flags
 * anywhere; other arguments (and all after "--") go to pos (at most max_pos, *n_pos of them).
 * Returns 0, 1 for -h / --help (nothing printed), or 2 after printing "hark CMD: <what is
 * wrong>" to stderr (the caller adds its usage line). */
int cli_parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts, int n_opts,
                   const char **pos, int max_pos, int *n_pos);

#endif
