/* The C ABI at its limits, as a C program would use it (CPU backend): thread counts, resource
 * exhaustion, sizes whose products overflow, and NaN isolation between the two rows of a pair.
 * Every call must return a status and a message naming the argument; nothing may hang, crash or
 * leak NaN into a neighbouring row. Exit status 0 on success; each failed check prints one line.
 *
 *   1. 300 plans, then calls on them: the process's thread count stays at the shared pool's size.
 *   2. num_threads = 100000 and -1: FFC_INVALID_ARGUMENT naming num_threads.
 *   3. num_threads = 1000 under a 2 GB address-space limit (in a child process with an alarm, so a
 *      hang fails instead of blocking): the plan is created and runs, or creation fails with
 *      FFC_OUT_OF_MEMORY and a message; never a hang or a crash.
 *   4. Sizes near 2^62 and 2^63: spectrum, workspace and backward workspace sizes of huge head or
 *      batch counts, and tensors whose B H L or byte size wraps: FFC_INVALID_ARGUMENT.
 *   5. A NaN in each (b, h) row in turn (B = 3: a pair and a lone row): that row of y is NaN, every
 *      other row equals the clean result to f32 accuracy.
 */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ffc/ffc.h"

static int failures = 0;

#define CHECK(cond, ...)                                     \
  do {                                                       \
    if (!(cond)) {                                           \
      ++failures;                                            \
      fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                          \
      fprintf(stderr, "\n");                                 \
    }                                                        \
  } while (0)

static int threads_of_this_process(void) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "Threads:", 8) == 0) n = atoi(line + 8);
  }
  fclose(f);
  return n;
}

static ffc_tensor_t tensor3(void* data, ffc_dtype_t dtype, int64_t b, int64_t h, int64_t l) {
  ffc_tensor_t t;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = dtype;
  t.ndim = 3;
  t.shape[0] = b;
  t.shape[1] = h;
  t.shape[2] = l;
  t.strides[2] = 1;
  t.strides[1] = l;
  t.strides[0] = h * l; /* may wrap for huge shapes: the library must notice, not us */
  return t;
}

static ffc_tensor_t tensor2(void* data, int64_t h, int64_t l) {
  ffc_tensor_t t;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = FFC_F32;
  t.ndim = 2;
  t.shape[0] = h;
  t.shape[1] = l;
  t.strides[1] = 1;
  t.strides[0] = l;
  return t;
}

static ffc_plan_t* cpu_plan(int64_t n, int32_t threads, ffc_status_t* status) {
  ffc_plan_options_t o = FFC_PLAN_OPTIONS_INIT;
  ffc_plan_t* plan = NULL;
  o.fft_size = n;
  o.backend = FFC_BACKEND_CPU;
  o.num_threads = threads;
  *status = ffc_plan_create(&o, &plan);
  return plan;
}

/* y = conv(u, k) with the time-domain filter, f32, (B, H, L) = (b, h, n / 2). */
static ffc_status_t run_forward(const ffc_plan_t* plan, int64_t n, int64_t b, int64_t h, float* u, float* k, float* y) {
  size_t ws_bytes = 0;
  ffc_status_t s = ffc_workspace_bytes(plan, h, &ws_bytes);
  void* ws;
  ffc_tensor_t tu = tensor3(u, FFC_F32, b, h, n / 2), ty = tensor3(y, FFC_F32, b, h, n / 2), tk = tensor2(k, h, n / 2);
  ffc_forward_args_t a = FFC_FORWARD_ARGS_INIT;
  if (s != FFC_SUCCESS) return s;
  ws = malloc(ws_bytes);
  a.u = &tu;
  a.k = &tk;
  a.y = &ty;
  a.workspace = ws;
  a.workspace_bytes = ws_bytes;
  s = ffc_forward(plan, &a, NULL);
  free(ws);
  return s;
}

static void fill(float* x, int64_t count, uint32_t seed) {
  int64_t i;
  for (i = 0; i < count; ++i) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = (float)((double)(seed >> 8) / (double)(1u << 24) - 0.5);
  }
}

static void many_plans_share_one_pool(void) {
  enum { kPlans = 300, kN = 1024, kB = 4, kH = 8 };
  static ffc_plan_t* plans[kPlans];
  float *u = malloc(sizeof(float) * kB * kH * kN / 2), *k = malloc(sizeof(float) * kH * kN / 2),
        *y = malloc(sizeof(float) * kB * kH * kN / 2);
  const int before = threads_of_this_process();
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int i, after;
  fill(u, (int64_t)kB * kH * kN / 2, 1);
  fill(k, (int64_t)kH * kN / 2, 2);
  for (i = 0; i < kPlans; ++i) {
    ffc_status_t s;
    plans[i] = cpu_plan(kN, 0, &s);
    CHECK(s == FFC_SUCCESS, "plan %d: %s", i, ffc_last_error());
  }
  for (i = 0; i < kPlans; ++i) {
    if (plans[i]) CHECK(run_forward(plans[i], kN, kB, kH, u, k, y) == FFC_SUCCESS, "forward %d: %s", i, ffc_last_error());
  }
  after = threads_of_this_process();
  /* The shared pool: at most one thread per hardware thread (or FFC_NUM_THREADS) beyond ours. */
  {
    const char* env = getenv("FFC_NUM_THREADS");
    const long pool = env ? atol(env) : cores;
    CHECK(after - before <= pool, "300 plans started %d threads (pool size %ld)", after - before, pool);
  }
  for (i = 0; i < kPlans; ++i) ffc_plan_destroy(plans[i]);
  free(u);
  free(k);
  free(y);
}

static void thread_count_bounds(void) {
  ffc_status_t s;
  ffc_plan_t* plan = cpu_plan(64, 100000, &s);
  CHECK(s == FFC_INVALID_ARGUMENT && plan == NULL, "num_threads = 100000 gave status %d", (int)s);
  CHECK(strstr(ffc_last_error(), "num_threads") != NULL, "message does not name num_threads: %s", ffc_last_error());
  plan = cpu_plan(64, -1, &s);
  CHECK(s == FFC_INVALID_ARGUMENT && plan == NULL, "num_threads = -1 gave status %d", (int)s);
}

static void thread_exhaustion_fails_cleanly(void) {
  pid_t child = fork();
  int status = 0;
  if (child == 0) {
    struct rlimit limit = {2ul << 30, 2ul << 30};
    ffc_status_t s;
    ffc_plan_t* plan;
    alarm(120); /* a hang ends the child with SIGALRM, reported below */
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(3);
    plan = cpu_plan(1024, 1000, &s);
    if (s == FFC_SUCCESS) {
      float* u = calloc(2 * 4 * 512, sizeof(float));
      float* k = calloc(4 * 512, sizeof(float));
      float* y = calloc(2 * 4 * 512, sizeof(float));
      s = run_forward(plan, 1024, 2, 4, u, k, y);
      ffc_plan_destroy(plan);
      _exit(s == FFC_SUCCESS ? 0 : 4);
    }
    if (s != FFC_OUT_OF_MEMORY || strlen(ffc_last_error()) == 0) _exit(5);
    fprintf(stderr, "(1000 threads under 2 GB: refused with: %s)\n", ffc_last_error());
    /* The process keeps working after the refusal. */
    plan = cpu_plan(1024, 2, &s);
    if (s != FFC_SUCCESS) _exit(6);
    ffc_plan_destroy(plan);
    _exit(0);
  }
  CHECK(child > 0, "fork failed");
  if (child <= 0) return;
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status), "num_threads = 1000 under a 2 GB limit: the child %s %d",
        WIFSIGNALED(status) ? "died of signal" : "ended with", WIFSIGNALED(status) ? WTERMSIG(status) : status);
  CHECK(!WIFEXITED(status) || WEXITSTATUS(status) == 0, "num_threads = 1000 under a 2 GB limit: child exit %d",
        WEXITSTATUS(status));
}

static void expect_invalid(ffc_status_t s, const char* what, const char* needle) {
  CHECK(s == FFC_INVALID_ARGUMENT, "%s: status %d (%s)", what, (int)s, ffc_last_error());
  CHECK(strstr(ffc_last_error(), needle) != NULL, "%s: message lacks '%s': %s", what, needle, ffc_last_error());
}

static void huge_sizes_are_rejected(void) {
  ffc_status_t s;
  ffc_plan_t* plan = cpu_plan(1024, 1, &s);
  size_t bytes = 12345;
  static float dummy[64];
  int64_t heads[] = {(int64_t)1 << 60, (int64_t)1 << 62, INT64_MAX};
  int64_t batches[] = {(int64_t)1 << 62, (int64_t)1 << 55, INT64_MAX};
  int i;
  if (!plan) {
    CHECK(0, "plan: %s", ffc_last_error());
    return;
  }
  for (i = 0; i < 3; ++i) {
    expect_invalid(ffc_spectrum_bytes(plan, heads[i], &bytes), "spectrum_bytes(huge heads)", "heads");
    expect_invalid(ffc_workspace_bytes(plan, heads[i], &bytes), "workspace_bytes(huge heads)", "heads");
    expect_invalid(ffc_backward_workspace_bytes(plan, 2, heads[i], &bytes), "backward_workspace_bytes(huge heads)",
                   "heads");
    /* The CPU backward's workspace does not grow with the batch: a huge batch may be fine. */
    s = ffc_backward_workspace_bytes(plan, heads[i], 2, &bytes);
    CHECK(s == FFC_SUCCESS || s == FFC_INVALID_ARGUMENT, "backward_workspace_bytes(huge batch): status %d", (int)s);
  }
  for (i = 0; i < 3; ++i) {
    /* B H L wraps (2^62 * 3 * 100) or the byte size leaves int64: rejected before any access. */
    ffc_tensor_t tu = tensor3(dummy, FFC_F32, batches[i], 3, 100), ty = tensor3(dummy + 32, FFC_F32, batches[i], 3, 100);
    ffc_tensor_t tk = tensor2(dummy, 3, 100);
    ffc_forward_args_t a = FFC_FORWARD_ARGS_INIT;
    static char ws[1 << 16];
    char what[64];
    a.u = &tu;
    a.k = &tk;
    a.y = &ty;
    a.workspace = ws;
    a.workspace_bytes = sizeof ws;
    snprintf(what, sizeof what, "forward with B = %lld", (long long)batches[i]);
    s = ffc_forward(plan, &a, NULL);
    CHECK(s == FFC_INVALID_ARGUMENT, "%s: status %d", what, (int)s);
    CHECK(strstr(ffc_last_error(), "overlaps") == NULL, "%s: misleading message: %s", what, ffc_last_error());
    CHECK(strstr(ffc_last_error(), "u:") != NULL && strstr(ffc_last_error(), "exceeds 2^63") != NULL,
          "%s: message does not name u and the overflow: %s", what, ffc_last_error());
  }
  ffc_plan_destroy(plan);
}

static void nan_stays_in_its_row(void) {
  enum { kN = 64, kB = 3, kH = 2, kL = kN / 2, kRows = kB * kH };
  float u[kRows * kL], k[kH * kL], clean[kRows * kL], y[kRows * kL];
  ffc_status_t s;
  ffc_plan_t* plan = cpu_plan(kN, 1, &s);
  int row, r, t;
  if (!plan) {
    CHECK(0, "plan: %s", ffc_last_error());
    return;
  }
  fill(u, kRows * kL, 3);
  fill(k, kH * kL, 4);
  CHECK(run_forward(plan, kN, kB, kH, u, k, clean) == FFC_SUCCESS, "clean forward: %s", ffc_last_error());
  for (row = 0; row < kRows; ++row) {
    const float saved = u[row * kL + 5];
    u[row * kL + 5] = NAN;
    CHECK(run_forward(plan, kN, kB, kH, u, k, y) == FFC_SUCCESS, "forward: %s", ffc_last_error());
    u[row * kL + 5] = saved;
    for (r = 0; r < kRows; ++r) {
      double err = 0, norm = 0;
      int nans = 0;
      for (t = 0; t < kL; ++t) {
        nans += isnan(y[r * kL + t]) ? 1 : 0;
        err += (y[r * kL + t] - clean[r * kL + t]) * (double)(y[r * kL + t] - clean[r * kL + t]);
        norm += clean[r * kL + t] * (double)clean[r * kL + t];
      }
      if (r == row) {
        CHECK(nans == kL, "NaN in row %d: %d of %d outputs of that row are NaN", row, nans, (int)kL);
      } else {
        CHECK(nans == 0 && sqrt(err) <= 1e-6 * sqrt(norm), "NaN in row %d reached row %d (%d NaN, error %g)", row, r,
              nans, sqrt(err / norm));
      }
    }
  }
  ffc_plan_destroy(plan);
}

int main(void) {
  thread_exhaustion_fails_cleanly(); /* first: the child is forked before this process has threads */
  many_plans_share_one_pool();
  thread_count_bounds();
  huge_sizes_are_rejected();
  nan_stays_in_its_row();
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
