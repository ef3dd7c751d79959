# shaders.cmake — the list of SPIR-V variants built from shaders/glsl/ (one line per entry kind).
# Formats, block sizes, element types, saturation and packing are specialization constants.
lowbit_glsl(convert_quantize convert.comp QUANTIZE)
lowbit_glsl(convert_dequantize convert.comp DEQUANTIZE)
# GEMM family (Y = X · Wᵀ): weight type, tile shapes and M rows are specialization constants.
lowbit_glsl(gemm_gemv gemm_gemv.comp)
lowbit_glsl(gemm_gemv_f16dq gemm_gemv.comp F16_DEQUANT)  # fp16 exponent-trick dequant (shaderFloat16)
lowbit_glsl(gemm_gemv_sg gemm_gemv.comp SUBGROUP_REDUCE)  # lane-reduced GEMV: partition sums by subgroup shuffles
lowbit_glsl(gemm_gemv_f16dq_sg gemm_gemv.comp F16_DEQUANT SUBGROUP_REDUCE)
lowbit_glsl(gemm_tiled gemm_tiled.comp)
lowbit_glsl(gemm_reduce gemm_reduce.comp)
lowbit_glsl(gather gather.comp)
lowbit_glsl(copy copy.comp)  # Context::copy on GPUs (backend/vulkan/vk_copy.hpp)
lowbit_glsl(act_quant act_quant.comp)  # quantize_activations_int8 (+ fused RMSNorm)
# Attention over the paged KV cache: KV format, head dim and tiles are specialization constants.
lowbit_glsl(kv_append kv_append.comp)
lowbit_glsl(kv_append_sg kv_append.comp SUBGROUP_REDUCE)  # a row's min/max reduced by subgroup shuffles
lowbit_glsl(attention_decode attention.comp DECODE)
lowbit_glsl(attention_decode_sg attention.comp DECODE SUBGROUP_REDUCE)  # partial dots summed by subgroup shuffles
lowbit_glsl(attention_prefill attention.comp PREFILL)
lowbit_glsl(attention_merge attention.comp MERGE)
lowbit_glsl(gemm_coopmat gemm_coopmat.comp NV_COOPMAT)  # GL_NV_cooperative_matrix (glslang 12)
lowbit_glsl13(gemm_coopmat_khr gemm_coopmat.comp)  # the same source on GL_KHR_cooperative_matrix: only with glslang 13
lowbit_glsl13(attention_prefill_coopmat_khr attention_prefill_coopmat_khr.comp)  # prefill attention on KHR cooperative matrices (glslang 13)
# W4A8 (int8 activations x QoQ weights): GEMV / tiled / split-K reduce; _dot = integer dot-product instructions.
lowbit_glsl(gemm_w4a8_gemv gemm_w4a8.comp GEMV)
lowbit_glsl(gemm_w4a8_gemv_dot gemm_w4a8.comp GEMV INT_DOT)
lowbit_glsl(gemm_w4a8_tiled gemm_w4a8.comp TILED)
lowbit_glsl(gemm_w4a8_tiled_dot gemm_w4a8.comp TILED INT_DOT)
lowbit_glsl(gemm_w4a8_reduce gemm_w4a8.comp REDUCE)
