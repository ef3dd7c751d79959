# shaders.cmake — the list of SPIR-V variants built from shaders/glsl/ (one line per entry kind).
# Formats, block sizes, element types, saturation and packing are specialization constants.
lowbit_glsl(convert_quantize convert.comp QUANTIZE)
lowbit_glsl(convert_dequantize convert.comp DEQUANTIZE)
# GEMM family (Y = X · Wᵀ): weight type, tile shapes and M rows are specialization constants.
lowbit_glsl(gemm_gemv gemm_gemv.comp)
lowbit_glsl(gemm_gemv_f16dq gemm_gemv.comp F16_DEQUANT)  # fp16 exponent-trick dequant (shaderFloat16)
lowbit_glsl(gemm_tiled gemm_tiled.comp)
lowbit_glsl(gemm_reduce gemm_reduce.comp)
lowbit_glsl(gather gather.comp)
# Attention over the paged KV cache: KV format, head dim and tiles are specialization constants.
lowbit_glsl(kv_append kv_append.comp)
lowbit_glsl(kv_append_sg kv_append.comp SUBGROUP_REDUCE)  # a row's min/max reduced by subgroup shuffles
lowbit_glsl(attention_decode attention.comp DECODE)
lowbit_glsl(attention_decode_sg attention.comp DECODE SUBGROUP_REDUCE)  # partial dots summed by subgroup shuffles
lowbit_glsl(attention_prefill attention.comp PREFILL)
lowbit_glsl(attention_merge attention.comp MERGE)
lowbit_glsl(gemm_coopmat gemm_coopmat.comp)  # GL_NV_cooperative_matrix
lowbit_glsl13(gemm_coopmat_khr gemm_coopmat_khr.comp)  # GL_KHR_cooperative_matrix: only with glslang 13
