# The CUDA backend. Included when a CUDA compiler is found.
#   ffc_cuda_objects: the host-side backend and algorithm table, the spectral kernels every
#     algorithm shares (filter transform, dk) and the portable kernels, built for every architecture
#     in FFC_CUDA_ARCHS_PORTABLE (sm_80 SASS for Ampere and Ada, sm_90a SASS so Hopper can run them
#     when forced, compute_80 PTX for newer GPUs).
#   ffc_cuda_hopper: the fused kernels (clusters, bulk copies, stmatrix), FFC_CUDA_ARCHS_HOPPER.
# Each algorithm's kernels build in one translation unit per I/O dtype and direction.
set(FFC_CUDA_ARCHS_PORTABLE "80-real;90a-real;80-virtual" CACHE STRING
    "CUDA architectures of the portable and spectral kernels")
set(FFC_CUDA_ARCHS_HOPPER "90a-real" CACHE STRING "CUDA architectures of the fused Hopper kernels")

add_library(ffc_cuda_objects OBJECT
  src/cuda/cuda_backend.cpp
  src/cuda/algorithm_table.cpp
  src/cuda/fused_algorithm.cpp
  src/cuda/kernel_entry.cpp
  src/cuda/tables.cpp
  src/cuda/spectral/kernels_filter.cu
  src/cuda/spectral/kernels_dk.cu
  src/cuda/spectral/dk_launch.cpp
  src/cuda/fused_cta/registry.cpp
  src/cuda/fused_cluster/registry.cpp
  src/cuda/portable_cta/forward_f16.cu
  src/cuda/portable_cta/forward_bf16.cu
  src/cuda/portable_cta/backward_f16.cu
  src/cuda/portable_cta/backward_bf16.cu
  src/cuda/portable_blocks/blocks_algorithm.cpp
  src/cuda/portable_blocks/kernels_f16.cu
  src/cuda/portable_blocks/kernels_bf16.cu
  src/cuda/four_step/four_step_algorithm.cpp
  src/cuda/four_step/kernels_common.cu
  src/cuda/four_step/kernels_f16.cu
  src/cuda/four_step/kernels_bf16.cu
  src/cuda/conv1d/conv1d_backend.cpp
  src/cuda/conv1d/kernels_common.cu
  src/cuda/conv1d/kernels_f32.cu
  src/cuda/conv1d/kernels_f16.cu
  src/cuda/conv1d/kernels_bf16.cu
  src/cuda/conv1d/toeplitz_mma.cu)
add_library(ffc_cuda_hopper OBJECT
  src/cuda/fused_cta/forward_f16.cu
  src/cuda/fused_cta/forward_bf16.cu
  src/cuda/fused_cta/backward_f16.cu
  src/cuda/fused_cta/backward_bf16.cu
  src/cuda/fused_cluster/forward_f16.cu
  src/cuda/fused_cluster/forward_bf16.cu
  src/cuda/fused_cluster/backward_f16.cu
  src/cuda/fused_cluster/backward_bf16.cu)
set_target_properties(ffc_cuda_objects PROPERTIES CUDA_ARCHITECTURES "${FFC_CUDA_ARCHS_PORTABLE}")
set_target_properties(ffc_cuda_hopper PROPERTIES CUDA_ARCHITECTURES "${FFC_CUDA_ARCHS_HOPPER}")

option(FFC_PTXAS_VERBOSE "Print ptxas resource usage for the kernels" OFF)
foreach(target ffc_cuda_objects ffc_cuda_hopper)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/include ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${target} PUBLIC CUDA::cudart_static)
  set_target_properties(${target} PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    CUDA_STANDARD 17
    CUDA_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden
    CUDA_VISIBILITY_PRESET hidden)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-lineinfo --expt-relaxed-constexpr -Xcompiler=-fvisibility=hidden>
    $<$<COMPILE_LANGUAGE:CXX>:${FFC_WARNINGS}>)
  if(FFC_PTXAS_VERBOSE)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=-v>)
  endif()
endforeach()
