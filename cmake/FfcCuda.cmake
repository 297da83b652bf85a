# The CUDA backend: kernels (one translation unit per I/O dtype and direction, one for the filter
# transform and the registry, one for the dk kernels) and the host-side backend. Included when a
# CUDA compiler is found.
add_library(ffc_cuda_objects OBJECT
  src/cuda/kernels_f16.cu
  src/cuda/kernels_bf16.cu
  src/cuda/kernels_filter.cu
  src/cuda/kernels_backward.cu
  src/cuda/kernels_backward_f16.cu
  src/cuda/kernels_backward_bf16.cu
  src/cuda/cuda_backend.cpp
  src/cuda/tables.cpp)
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
