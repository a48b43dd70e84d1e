// A recording fake of the part of the CUDA runtime API (cuda_runtime_api.h) that swinpose's TensorRT backend uses,
// declared as CUDA declares it, so that the backend compiles and runs in tests on machines without CUDA. "Device"
// memory is host memory that the fake tracks: copies and TensorRT reads outside a live allocation abort the test.
#pragma once

#include <cstddef>

enum cudaError { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2 };
typedef enum cudaError cudaError_t;
struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

cudaError_t cudaMalloc(void** devPtr, size_t size);
cudaError_t cudaFree(void* devPtr);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream = 0);
cudaError_t cudaStreamCreate(cudaStream_t* pStream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
const char* cudaGetErrorString(cudaError_t error);

// What the fake saw (not CUDA API): live allocations and streams, bytes copied each way.
struct FakeCudaStats {
  int live_allocations, live_streams;
  size_t bytes_to_device, bytes_to_host;
};
FakeCudaStats fake_cuda_stats();
