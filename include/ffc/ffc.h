/*
 * flashfftconv C ABI (stable).
 *
 * Depthwise long convolution through FFTs:
 *
 *     y = postgate * conv_N(pregate * u, k)[..., :L]
 *
 * where conv_N is the length-N circular convolution of the zero-padded input and filter. With
 * L + Lk - 1 <= N this is a causal (linear) convolution; with L == N it is circular.
 *
 *   u, pregate, postgate, y : (B, H, L), one dtype among F32/F16/BF16, contiguous
 *   k                       : (H, Lk), F32 (F16 and BF16 accepted), contiguous, Lk <= N
 *
 * Usage:
 *   ffc_plan_options_t opts = FFC_PLAN_OPTIONS_INIT;  opts.fft_size = 4096;
 *   ffc_plan_t* plan;   if (ffc_plan_create(&opts, &plan) != FFC_SUCCESS) puts(ffc_last_error());
 *   ... ffc_forward(plan, &args, stream) ...
 *   ffc_plan_destroy(plan);
 *
 * Rules of the ABI:
 *   - Every function returns a status (or a plain value that cannot fail). On failure the
 *     thread-local message from ffc_last_error() names the argument, the value and the rule.
 *   - Nothing is written to any output when validation fails.
 *   - Plans are immutable after creation; executing one plan from several threads is safe.
 *   - Execution allocates no device memory and only enqueues work on the given stream (CUDA
 *     plans), so it may be captured in a CUDA graph. CPU plans run synchronously.
 *   - Structs that callers fill begin with `struct_size` so that the ABI can grow; set it with the
 *     *_INIT macros.
 */
#ifndef FFC_FFC_H_
#define FFC_FFC_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FFC_API __declspec(dllexport)
#else
#define FFC_API __attribute__((visibility("default")))
#endif

#define FFC_VERSION_MAJOR 0
#define FFC_VERSION_MINOR 1
#define FFC_VERSION_PATCH 0
/* The ABI version changes whenever a struct layout or a function signature changes. */
#define FFC_ABI_VERSION 1

typedef enum ffc_status {
  FFC_SUCCESS = 0,
  FFC_INVALID_ARGUMENT = 1, /* a tensor, size or option breaks a documented rule */
  FFC_NOT_SUPPORTED = 2,    /* valid request that this build or backend cannot run */
  FFC_NO_DEVICE = 3,        /* a CUDA backend was requested but no usable GPU is present */
  FFC_CUDA_ERROR = 4,       /* the CUDA runtime reported an error */
  FFC_OUT_OF_MEMORY = 5,    /* host or device allocation failed (plan creation only) */
  FFC_INTERNAL = 6          /* a bug: please report the message */
} ffc_status_t;

/* Opaque plan handle. */
typedef struct ffc_plan ffc_plan_t;

typedef enum ffc_dtype { FFC_F32 = 0, FFC_F16 = 1, FFC_BF16 = 2 } ffc_dtype_t;

typedef enum ffc_backend { FFC_BACKEND_AUTO = 0, FFC_BACKEND_CPU = 1, FFC_BACKEND_CUDA = 2 } ffc_backend_t;

/* Which CUDA algorithms a plan may choose from (ffc::CudaPath): AUTO = the FFC_CUDA_PATH environment
 * variable (auto, fused, portable) when set, else the fastest that runs; FUSED = the fused Hopper
 * kernels; PORTABLE = the kernels that run from sm_80 on (forced even on Hopper). */
typedef enum ffc_cuda_path { FFC_CUDA_PATH_AUTO = 0, FFC_CUDA_PATH_FUSED = 1, FFC_CUDA_PATH_PORTABLE = 2 } ffc_cuda_path_t;

/* A non-owning view of a tensor. `strides` are in elements and must be row-major contiguous, except
 * where they address no element (size-1 dimensions, and every dimension of an empty tensor). For a
 * CUDA plan `data` must be device memory of the plan's device; for a CPU plan, host memory. */
typedef struct ffc_tensor {
  void* data;
  ffc_dtype_t dtype;
  int32_t ndim;
  int64_t shape[3];
  int64_t strides[3];
} ffc_tensor_t;

typedef struct ffc_plan_options {
  size_t struct_size;    /* sizeof(ffc_plan_options_t) */
  int64_t fft_size;      /* N: a power of two, 16 <= N <= 4194304 (CPU) */
  ffc_backend_t backend; /* AUTO picks CUDA when a GPU is present and supports N, else CPU */
  int32_t device;        /* CUDA device ordinal; -1 = the current device */
  int32_t num_threads;   /* CPU worker threads, 0 .. 1024; 0 = the shared pool's default (FFC_NUM_THREADS or all hardware threads) */
  /* Since 0.2 (struct_size ending before them: AUTO, as before): */
  ffc_cuda_path_t cuda_path; /* CUDA plans: which algorithms may run */
  int32_t reserved;          /* must be 0 */
} ffc_plan_options_t;

#define FFC_PLAN_OPTIONS_INIT {sizeof(ffc_plan_options_t), 0, FFC_BACKEND_AUTO, -1, 0, FFC_CUDA_PATH_AUTO, 0}

typedef struct ffc_plan_info {
  size_t struct_size;
  int64_t fft_size;
  ffc_backend_t backend; /* the backend chosen (never AUTO) */
  int32_t device;        /* CUDA device ordinal, or -1 for CPU */
  int32_t num_stages;    /* number of radix stages of one FFT */
  int32_t radices[8];    /* the Monarch factorization N = radices[0] * ... */
  char algorithm[32];    /* what runs the plan, NUL-terminated: "cpu" or the CUDA algorithm (left alone
                            when struct_size ends before it) */
} ffc_plan_info_t;

#define FFC_PLAN_INFO_INIT {sizeof(ffc_plan_info_t), 0, FFC_BACKEND_AUTO, -1, 0, {0}, {0}}

/* Forward arguments. Exactly one of `k` (time-domain filter) and `spectrum` (the output of
 * ffc_transform_filter) must be given. Absent optional tensors are NULL pointers. */
typedef struct ffc_forward_args {
  size_t struct_size;
  const ffc_tensor_t* u;        /* (B, H, L) */
  const ffc_tensor_t* k;        /* (H, Lk) or NULL */
  const void* spectrum;         /* or NULL */
  size_t spectrum_bytes;        /* exactly ffc_spectrum_bytes(plan, H) */
  int64_t spectrum_heads;       /* H the spectrum was made for */
  const ffc_tensor_t* pregate;  /* (B, H, L) or NULL */
  const ffc_tensor_t* postgate; /* (B, H, L) or NULL */
  const ffc_tensor_t* y;        /* (B, H, L), written; may be u itself (in place) */
  void* workspace;              /* with `k`: ffc_workspace_bytes(plan, H) bytes; with a spectrum:
                                   ffc_workspace_bytes(plan, 0) (0, so none, but for two-pass algorithms) */
  size_t workspace_bytes;
} ffc_forward_args_t;

#define FFC_FORWARD_ARGS_INIT {sizeof(ffc_forward_args_t), NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0}

/* Backward arguments: the gradients of y = postgate * conv(pregate * u, k)[..., :L] given
 * dy = dLoss/dy. With x = pregate * u, c = conv(x, k) and dc = postgate * dy:
 *   dpostgate = dy * c,   du = pregate * corr(dc, k),   dpregate = u * corr(dc, k),
 *   dk[h, j] = sum over b and t of dc[b, h, t] * x[b, h, (t - j) mod N]   (j < Lk_grad)
 * where corr(dc, k)[s] = sum_t dc[t] k[(t - s) mod N]. Exactly one of `k` and `spectrum` (the
 * forward's filter) must be given. Each gradient is computed only when its tensor is given (at
 * least one); absent tensors are NULL pointers. Gradients must not overlap the inputs, the workspace
 * or each other, except `du`, which may be `dy` itself (in place). The result is deterministic: the
 * same bits for any number of threads. */
typedef struct ffc_backward_args {
  size_t struct_size;
  const ffc_tensor_t* dy;        /* (B, H, L): the gradient of y */
  const ffc_tensor_t* u;         /* (B, H, L): the forward's input */
  const ffc_tensor_t* k;         /* (H, Lk) or NULL */
  const void* spectrum;          /* or NULL: the forward's spectrum (ffc_transform_filter) */
  size_t spectrum_bytes;         /* exactly ffc_spectrum_bytes(plan, H) */
  int64_t spectrum_heads;        /* H the spectrum was made for */
  const ffc_tensor_t* pregate;   /* (B, H, L) or NULL: the forward's gates */
  const ffc_tensor_t* postgate;  /* (B, H, L) or NULL */
  const ffc_tensor_t* du;        /* (B, H, L), dtype of u, written, or NULL; may be dy itself */
  const ffc_tensor_t* dk;        /* (H, Lk_grad) F32, 1 <= Lk_grad <= N, written, or NULL;
                                    summed over the batch; normally Lk_grad = Lk */
  const ffc_tensor_t* dpregate;  /* (B, H, L), written, or NULL; only with pregate */
  const ffc_tensor_t* dpostgate; /* (B, H, L), written, or NULL; only with postgate */
  void* workspace;               /* ffc_backward_workspace_bytes(plan, B, H) bytes, either filter form */
  size_t workspace_bytes;
} ffc_backward_args_t;

#define FFC_BACKWARD_ARGS_INIT \
  {sizeof(ffc_backward_args_t), NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0}

/* Library version as MAJOR*10000 + MINOR*100 + PATCH, and as a string. */
FFC_API uint32_t ffc_version(void);
FFC_API const char* ffc_version_string(void);
FFC_API uint32_t ffc_abi_version(void);

/* Static text for a status; never NULL. */
FFC_API const char* ffc_status_string(ffc_status_t status);

/* The message of the last failed call on this thread ("" if the last call succeeded). The pointer
 * stays valid until the next ffc_* call on this thread. */
FFC_API const char* ffc_last_error(void);

/* Number of usable CUDA devices; 0 when the library was built without CUDA, when no driver is
 * installed, or on any CUDA error. Never fails. */
FFC_API int32_t ffc_cuda_device_count(void);

/* Whether a backend can run FFT size n (1) or not (0). */
FFC_API int32_t ffc_fft_size_supported(ffc_backend_t backend, int64_t n);

FFC_API ffc_status_t ffc_plan_create(const ffc_plan_options_t* options, ffc_plan_t** plan);

/* Destroys a plan; NULL is ignored. */
FFC_API void ffc_plan_destroy(ffc_plan_t* plan);

FFC_API ffc_status_t ffc_plan_get_info(const ffc_plan_t* plan, ffc_plan_info_t* info);

/* Bytes of the filter spectrum for `heads` filters, and of the workspace a forward call with a
 * time-domain filter needs (heads = 0: the workspace a call with a spectrum needs, 0 but for the
 * two-pass CUDA algorithms). */
FFC_API ffc_status_t ffc_spectrum_bytes(const ffc_plan_t* plan, int64_t heads, size_t* bytes);
FFC_API ffc_status_t ffc_workspace_bytes(const ffc_plan_t* plan, int64_t heads, size_t* bytes);

/* Transforms a time-domain filter k (H, Lk) into the backend's spectrum, written to `spectrum`
 * (`spectrum_bytes` must be at least ffc_spectrum_bytes(plan, H)). A spectrum is tied to the plan's
 * fft_size and backend; reuse it for any number of forward calls. Calls that read a spectrum take
 * exactly ffc_spectrum_bytes(plan, H) bytes: the size per head differs between backends and FFT
 * sizes, so a spectrum of another plan is rejected rather than read as garbage. */
FFC_API ffc_status_t ffc_transform_filter(const ffc_plan_t* plan, const ffc_tensor_t* k,
                                          void* spectrum, size_t spectrum_bytes, void* stream);

/* y = postgate * conv(pregate * u, k)[..., :L]. `stream` is a cudaStream_t (NULL = legacy default
 * stream) for CUDA plans and ignored for CPU plans. */
FFC_API ffc_status_t ffc_forward(const ffc_plan_t* plan, const ffc_forward_args_t* args,
                                 void* stream);

/* Bytes of the workspace a backward call with `batch` rows and `heads` heads needs. */
FFC_API ffc_status_t ffc_backward_workspace_bytes(const ffc_plan_t* plan, int64_t batch,
                                                  int64_t heads, size_t* bytes);

/* The gradients requested in `args` (see ffc_backward_args_t). Nothing is written when validation
 * fails. `stream` as for ffc_forward. Backends without a backward pass return FFC_NOT_SUPPORTED. */
FFC_API ffc_status_t ffc_backward(const ffc_plan_t* plan, const ffc_backward_args_t* args,
                                  void* stream);

/* ---- Short depthwise convolution (conv1d) --------------------------------------------------------
 *
 *   y[b, c, t] = act(bias[c] + sum_{j < K} w[c / (H / G), j] * x[b, c, t + j - P])   (x = 0 outside)
 *
 * x: (B, H, L) or (B, L, H) (`layout`), F32/F16/BF16; weight: (G, K), H a multiple of G, 1 <= K <=
 * 1024, any of the three dtypes; bias: (H,) or NULL; y: like x with L_out samples, dtype of x.
 * Padding: `causal` = 0: P = padding on each side (as torch's nn.Conv1d), L_out = L + 2P - K + 1;
 * `causal` = 1: P = K - 1 on the left only (padding 0 or K - 1), L_out = L. act: identity or SiLU.
 * The backward computes any of dx (like x), dweight (F32, (G, K)) and dbias (F32, (H,)),
 * deterministically, recomputing SiLU's input from x, weight and bias. Outputs must not overlap
 * the inputs, the workspace or each other. */
typedef enum ffc_conv1d_layout { FFC_CONV1D_BHL = 0, FFC_CONV1D_BLH = 1 } ffc_conv1d_layout_t;
typedef enum ffc_activation { FFC_ACTIVATION_NONE = 0, FFC_ACTIVATION_SILU = 1 } ffc_activation_t;

typedef struct ffc_conv1d_plan ffc_conv1d_plan_t;

typedef struct ffc_conv1d_plan_options {
  size_t struct_size;
  ffc_backend_t backend; /* AUTO: CUDA when a GPU is present, else CPU */
  int32_t device;        /* CUDA device ordinal; -1 = the current device */
  int32_t num_threads;   /* CPU worker threads, 0 .. 1024 (0: the shared pool's default) */
  int32_t reserved;      /* must be 0 */
} ffc_conv1d_plan_options_t;

#define FFC_CONV1D_PLAN_OPTIONS_INIT {sizeof(ffc_conv1d_plan_options_t), FFC_BACKEND_AUTO, -1, 0, 0}

typedef struct ffc_conv1d_forward_args {
  size_t struct_size;
  const ffc_tensor_t* x;      /* (B, H, L) or (B, L, H) */
  const ffc_tensor_t* weight; /* (G, K) */
  const ffc_tensor_t* bias;   /* (H,) or NULL */
  const ffc_tensor_t* y;      /* (B, H, L_out) or (B, L_out, H), written */
  int64_t padding;
  int32_t causal;             /* 0 or 1 */
  ffc_conv1d_layout_t layout;
  ffc_activation_t activation;
  int32_t reserved;           /* must be 0 */
} ffc_conv1d_forward_args_t;

#define FFC_CONV1D_FORWARD_ARGS_INIT \
  {sizeof(ffc_conv1d_forward_args_t), NULL, NULL, NULL, NULL, 0, 0, FFC_CONV1D_BHL, FFC_ACTIVATION_NONE, 0}

typedef struct ffc_conv1d_backward_args {
  size_t struct_size;
  const ffc_tensor_t* dy;      /* like y */
  const ffc_tensor_t* x;       /* the forward's input */
  const ffc_tensor_t* weight;  /* the forward's weight */
  const ffc_tensor_t* bias;    /* the forward's bias or NULL (read only with SiLU) */
  const ffc_tensor_t* dx;      /* like x, written, or NULL */
  const ffc_tensor_t* dweight; /* (G, K) F32, written, or NULL */
  const ffc_tensor_t* dbias;   /* (H,) F32, written, or NULL */
  int64_t padding;
  int32_t causal;
  ffc_conv1d_layout_t layout;
  ffc_activation_t activation;
  int32_t reserved;            /* must be 0 */
  void* workspace;             /* ffc_conv1d_backward_workspace_bytes(plan, args) bytes */
  size_t workspace_bytes;
} ffc_conv1d_backward_args_t;

#define FFC_CONV1D_BACKWARD_ARGS_INIT                                                              \
  {sizeof(ffc_conv1d_backward_args_t), NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0,             \
   FFC_CONV1D_BHL, FFC_ACTIVATION_NONE, 0, NULL, 0}

FFC_API ffc_status_t ffc_conv1d_plan_create(const ffc_conv1d_plan_options_t* options,
                                            ffc_conv1d_plan_t** plan);
/* Destroys a conv1d plan; NULL is ignored. */
FFC_API void ffc_conv1d_plan_destroy(ffc_conv1d_plan_t* plan);
/* The backend chosen (never AUTO) and its device (-1 for the CPU). */
FFC_API ffc_status_t ffc_conv1d_plan_get_backend(const ffc_conv1d_plan_t* plan, ffc_backend_t* backend,
                                                 int32_t* device);
FFC_API ffc_status_t ffc_conv1d_forward(const ffc_conv1d_plan_t* plan,
                                        const ffc_conv1d_forward_args_t* args, void* stream);
/* Bytes of the workspace of a backward call with these arguments (shapes, dtypes and options are
 * read; the workspace fields are not). */
FFC_API ffc_status_t ffc_conv1d_backward_workspace_bytes(const ffc_conv1d_plan_t* plan,
                                                         const ffc_conv1d_backward_args_t* args,
                                                         size_t* bytes);
FFC_API ffc_status_t ffc_conv1d_backward(const ffc_conv1d_plan_t* plan,
                                         const ffc_conv1d_backward_args_t* args, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* FFC_FFC_H_ */
