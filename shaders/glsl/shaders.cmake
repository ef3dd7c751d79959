# shaders.cmake — the list of SPIR-V variants built from shaders/glsl/ (one line per entry kind).
