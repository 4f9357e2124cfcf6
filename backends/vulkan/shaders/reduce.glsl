// Sums over a workgroup of WG invocations for the GPU kernels' split rows: workgroup_sums(lane,
// acc) leaves the sum of every invocation's acc[t] in partial[t], t < SUMS, for all to read
// (barriers inside; every invocation must call it). With USE_SUBGROUP: subgroupAdd within each
// subgroup, then one pass over the subgroups' totals; otherwise a shared-memory tree. Define WG
// and SUMS before including; the caller must barrier() before the next call reuses partial.
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

shared float partial[WG * SUMS];

void workgroup_sums(uint lane, float acc[SUMS]) {
#ifdef USE_SUBGROUP
    for (uint t = 0u; t < SUMS; ++t) {
        const float s = subgroupAdd(acc[t]);
        if (subgroupElect()) partial[gl_SubgroupID * SUMS + t] = s;
    }
    barrier();
    float total = 0.0;
    if (lane < SUMS)
        for (uint g = 0u; g < gl_NumSubgroups; ++g) total += partial[g * SUMS + lane];
    barrier();
    if (lane < SUMS) partial[lane] = total;
#else
    for (uint t = 0u; t < SUMS; ++t) partial[lane * SUMS + t] = acc[t];
    for (uint half_ = WG / 2u; half_ > 0u; half_ >>= 1) {
        barrier();
        if (lane < half_)
            for (uint t = 0u; t < SUMS; ++t)
                partial[lane * SUMS + t] += partial[(lane + half_) * SUMS + t];
    }
#endif
    barrier();
}
