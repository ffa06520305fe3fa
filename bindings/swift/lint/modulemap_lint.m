// modulemap_lint.m - the CUnmeta module map builds as a Clang module (what
// Swift's importer does), and the API Unmeta.swift calls is visible through
// it. Compiled with clang -fmodules -fsyntax-only, never run.
@import CUnmeta;

int lint_uses(void);

int lint_uses(void)
{
    unmeta_ctx *ctx = 0;
    void *out = 0;
    uint64_t out_size = 0;
    int32_t dirty = 0;
    unmeta_report *r = 0;
    char *json = 0;
    unmeta_source *src = 0;
    int32_t rc = unmeta_ctx_new(&ctx);
    rc |= unmeta_ctx_set_option(ctx, UNMETA_OPT_ICC, UNMETA_ICC_KEEP);
    rc |= unmeta_ctx_set_option(ctx, UNMETA_OPT_APPLY_ORIENTATION, 0);
    rc |= unmeta_ctx_set_option(ctx, UNMETA_OPT_KEEP_DEPTH, 0);
    rc |= unmeta_ctx_set_option(ctx, UNMETA_OPT_KEEP_MOTION, 0);
    rc |= unmeta_strip_memory(&out, &out_size, ctx, "", 0);
    rc |= unmeta_strip_path(ctx, "a", "b");
    rc |= unmeta_source_new_memory(&src, "", 0);
    rc |= unmeta_check(&dirty, ctx, src);
    rc |= unmeta_inspect(&r, ctx, src);
    rc |= unmeta_report_json(&json, r);
    unmeta_free(json);
    unmeta_report_free(r);
    unmeta_source_free(src);
    unmeta_free(out);
    (void)unmeta_ctx_last_error(ctx);
    (void)unmeta_strerror(rc);
    (void)unmeta_version_string();
    unmeta_ctx_free(ctx);
    return rc + UNMETA_E_INVALID + UNMETA_E_NOMEM + UNMETA_E_IO + UNMETA_E_UNSUPPORTED + UNMETA_E_MALFORMED +
           UNMETA_E_TRUNCATED + UNMETA_E_LIMIT + UNMETA_E_FEATURE + UNMETA_ICC_STRIP;
}
