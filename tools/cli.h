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

#endif
