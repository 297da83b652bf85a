# The CUDA backend: the host-side backend and algorithm table, the shared spectral kernels (filter
# transform, dk), and one folder per algorithm whose kernels build in one translation unit per I/O
# dtype and direction. Included when a CUDA compiler is found.
add_library(ffc_cuda_objects OBJECT
  src/cuda/cuda_backend.cpp
  src/cuda/algorithm_table.cpp
  src/cuda/fused_algorithm.cpp
  src/cuda/tables.cpp
  src/cuda/spectral/kernels_filter.cu
  src/cuda/spectral/kernels_dk.cu
  src/cuda/fused_cta/registry.cpp
  src/cuda/fused_cta/forward_f16.cu
  src/cuda/fused_cta/forward_bf16.cu
  src/cuda/fused_cta/backward_f16.cu
  src/cuda/fused_cta/backward_bf16.cu
  src/cuda/fused_cluster/registry.cpp
  src/cuda/fused_cluster/forward_f16.cu
  src/cuda/fused_cluster/forward_bf16.cu
  src/cuda/fused_cluster/backward_f16.cu
  src/cuda/fused_cluster/backward_bf16.cu)
target_include_directories(ffc_cuda_objects PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/include ${CMAKE_CURRENT_SOURCE_DIR}/src)
target_link_libraries(ffc_cuda_objects PUBLIC CUDA::cudart_static)
set_target_properties(ffc_cuda_objects PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  CXX_VISIBILITY_PRESET hidden
  CUDA_VISIBILITY_PRESET hidden)
target_compile_options(ffc_cuda_objects PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-lineinfo --expt-relaxed-constexpr -Xcompiler=-fvisibility=hidden>
  $<$<COMPILE_LANGUAGE:CXX>:${FFC_WARNINGS}>)
option(FFC_PTXAS_VERBOSE "Print ptxas resource usage for the kernels" OFF)
if(FFC_PTXAS_VERBOSE)
  target_compile_options(ffc_cuda_objects PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=-v>)
endif()
