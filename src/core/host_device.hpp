// FFC_HOST_DEVICE: marks a function that compiles for the host and, under nvcc, for the device, so
// pure math shared by the CPU backend, the CUDA kernels and host tests is written once.
#pragma once

#if defined(__CUDACC__)
#define FFC_HOST_DEVICE __host__ __device__
#else
#define FFC_HOST_DEVICE
#endif
