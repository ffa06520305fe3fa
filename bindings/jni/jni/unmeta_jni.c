/*
 * unmeta_jni.c - the JNI shim behind org.unmeta.Unmeta: one native method
 * per library call, registered in JNI_OnLoad (no javah names, so R8/ProGuard
 * renaming of other classes cannot break the lookup). State checks (closed
 * objects, null arrays, negative descriptors) are done on the Java side;
 * this file turns library codes into org.unmeta.UnmetaException and never
 * lets a C string that may not be modified UTF-8 reach NewStringUTF:
 * messages and reports travel as byte arrays and Java decodes them as UTF-8.
 */
#include <jni.h>
#include <stdint.h>
#include <string.h>

#include "unmeta.h"

static jclass exc_class;   /* global ref: org.unmeta.UnmetaException */
static jmethodID exc_init; /* UnmetaException(int, byte[]) */

static jbyteArray to_bytes(JNIEnv *env, const void *p, uint64_t n)
{
    if (n > INT32_MAX) {
        jclass oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
        if (oom)
            (*env)->ThrowNew(env, oom, "unmeta: result larger than a Java array");
        return NULL;
    }
    jbyteArray a = (*env)->NewByteArray(env, (jsize)n);
    if (a && n)
        (*env)->SetByteArrayRegion(env, a, 0, (jsize)n, (const jbyte *)p);
    return a; /* NULL with OutOfMemoryError pending */
}

/* Throws UnmetaException(rc, message) and returns rc. */
static int32_t throw_rc(JNIEnv *env, int32_t rc, const unmeta_ctx *ctx)
{
    const char *msg = ctx ? unmeta_ctx_last_error(ctx) : "";
    if (!msg[0])
        msg = unmeta_strerror(rc);
    jbyteArray m = to_bytes(env, msg, strlen(msg));
    if (!m)
        return rc;
    jthrowable t = (jthrowable)(*env)->NewObject(env, exc_class, exc_init, (jint)rc, m);
    if (t)
        (*env)->Throw(env, t);
    return rc;
}

static unmeta_ctx *ctx_of(jlong h)
{
    return (unmeta_ctx *)(intptr_t)h;
}

static jlong j_new(JNIEnv *env, jclass cls)
{
    unmeta_ctx *ctx = NULL;
    int32_t rc = unmeta_ctx_new(&ctx);
    if (rc < 0) {
        throw_rc(env, rc, NULL);
        return 0;
    }
    return (jlong)(intptr_t)ctx;
}

static void j_free(JNIEnv *env, jclass cls, jlong h)
{
    unmeta_ctx_free(ctx_of(h));
}

static void j_set_option(JNIEnv *env, jclass cls, jlong h, jint key, jlong value)
{
    int32_t rc = unmeta_ctx_set_option(ctx_of(h), key, value);
    if (rc < 0)
        throw_rc(env, rc, ctx_of(h));
}

/* The array's bytes, pinned or copied, released without copying back. */
typedef struct pinned {
    jbyteArray array;
    jbyte *p;
    jsize n;
} pinned;

static int pin(JNIEnv *env, pinned *b, jbyteArray a)
{
    b->array = a;
    b->n = (*env)->GetArrayLength(env, a);
    b->p = (*env)->GetByteArrayElements(env, a, NULL);
    return b->p != NULL; /* else OutOfMemoryError is pending */
}

static void unpin(JNIEnv *env, pinned *b)
{
    if (b->p)
        (*env)->ReleaseByteArrayElements(env, b->array, b->p, JNI_ABORT);
}

static jbyteArray j_strip_bytes(JNIEnv *env, jclass cls, jlong h, jbyteArray in)
{
    pinned b = { 0 };
    void *out = NULL;
    uint64_t out_size = 0;
    jbyteArray result = NULL;
    if (!pin(env, &b, in))
        return NULL;
    int32_t rc = unmeta_strip_memory(&out, &out_size, ctx_of(h), b.p, (uint64_t)b.n);
    unpin(env, &b);
    if (rc < 0)
        throw_rc(env, rc, ctx_of(h));
    else
        result = to_bytes(env, out, out_size);
    unmeta_free(out);
    return result;
}

static void j_strip_fd(JNIEnv *env, jclass cls, jlong h, jint in_fd, jint out_fd)
{
    unmeta_source *src = NULL;
    unmeta_sink *dst = NULL;
    int32_t rc = unmeta_source_new_fd(&src, in_fd);
    if (rc >= 0)
        rc = unmeta_sink_new_fd(&dst, out_fd);
    if (rc >= 0)
        rc = unmeta_strip(NULL, ctx_of(h), src, dst);
    unmeta_sink_free(dst);
    unmeta_source_free(src);
    if (rc < 0)
        throw_rc(env, rc, ctx_of(h));
}

static jbyteArray inspect(JNIEnv *env, jlong h, unmeta_source *src)
{
    unmeta_report *r = NULL;
    char *json = NULL;
    jbyteArray result = NULL;
    int32_t rc = unmeta_inspect(&r, ctx_of(h), src);
    if (rc >= 0)
        rc = unmeta_report_json(&json, r);
    if (rc < 0)
        throw_rc(env, rc, ctx_of(h));
    else
        result = to_bytes(env, json, strlen(json));
    unmeta_free(json);
    unmeta_report_free(r);
    return result;
}

static jbyteArray j_inspect_bytes(JNIEnv *env, jclass cls, jlong h, jbyteArray in)
{
    pinned b = { 0 };
    unmeta_source *src = NULL;
    jbyteArray result = NULL;
    if (!pin(env, &b, in))
        return NULL;
    int32_t rc = unmeta_source_new_memory(&src, b.p, (uint64_t)b.n);
    if (rc < 0)
        throw_rc(env, rc, ctx_of(h));
    else
        result = inspect(env, h, src);
    unmeta_source_free(src);
    unpin(env, &b);
    return result;
}

static jbyteArray j_inspect_fd(JNIEnv *env, jclass cls, jlong h, jint fd)
{
    unmeta_source *src = NULL;
    jbyteArray result = NULL;
    int32_t rc = unmeta_source_new_fd(&src, fd);
    if (rc < 0)
        throw_rc(env, rc, ctx_of(h));
    else
        result = inspect(env, h, src);
    unmeta_source_free(src);
    return result;
}

static jboolean check(JNIEnv *env, jlong h, unmeta_source *src)
{
    int32_t dirty = 0;
    int32_t rc = unmeta_check(&dirty, ctx_of(h), src);
    if (rc < 0)
        throw_rc(env, rc, ctx_of(h));
    return dirty ? JNI_TRUE : JNI_FALSE;
}

static jboolean j_check_bytes(JNIEnv *env, jclass cls, jlong h, jbyteArray in)
{
    pinned b = { 0 };
    unmeta_source *src = NULL;
    jboolean result = JNI_FALSE;
    if (!pin(env, &b, in))
        return JNI_FALSE;
    int32_t rc = unmeta_source_new_memory(&src, b.p, (uint64_t)b.n);
    if (rc < 0)
        throw_rc(env, rc, ctx_of(h));
    else
        result = check(env, h, src);
    unmeta_source_free(src);
    unpin(env, &b);
    return result;
}

static jboolean j_check_fd(JNIEnv *env, jclass cls, jlong h, jint fd)
{
    unmeta_source *src = NULL;
    jboolean result = JNI_FALSE;
    int32_t rc = unmeta_source_new_fd(&src, fd);
    if (rc < 0)
        throw_rc(env, rc, ctx_of(h));
    else
        result = check(env, h, src);
    unmeta_source_free(src);
    return result;
}

static jstring j_version(JNIEnv *env, jclass cls)
{
    return (*env)->NewStringUTF(env, unmeta_version_string()); /* ASCII digits and dots */
}

static jboolean j_constant(JNIEnv *env, jclass cls, jstring name, jlongArray out)
{
    if (!name || !out || (*env)->GetArrayLength(env, out) < 1)
        return JNI_FALSE;
    const char *s = (*env)->GetStringUTFChars(env, name, NULL);
    if (!s)
        return JNI_FALSE;
    int64_t v = 0;
    int32_t rc = unmeta_constant(&v, s);
    (*env)->ReleaseStringUTFChars(env, name, s);
    if (rc < 0)
        return JNI_FALSE;
    jlong jv = (jlong)v;
    (*env)->SetLongArrayRegion(env, out, 0, 1, &jv);
    return JNI_TRUE;
}

#define NM(name, sig, fn) { (char *)(name), (char *)(sig), (void *)(fn) }

/* JNINativeMethod.fnPtr is a void *: JNI itself requires converting
 * function pointers to object pointers, which POSIX guarantees but ISO C
 * does not, so -Wpedantic is silenced for this table only. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#endif

static const JNINativeMethod methods[] = {
    NM("nativeNew", "()J", j_new),
    NM("nativeFree", "(J)V", j_free),
    NM("nativeSetOption", "(JIJ)V", j_set_option),
    NM("nativeStripBytes", "(J[B)[B", j_strip_bytes),
    NM("nativeStripFd", "(JII)V", j_strip_fd),
    NM("nativeInspectBytes", "(J[B)[B", j_inspect_bytes),
    NM("nativeInspectFd", "(JI)[B", j_inspect_fd),
    NM("nativeCheckBytes", "(J[B)Z", j_check_bytes),
    NM("nativeCheckFd", "(JI)Z", j_check_fd),
    NM("nativeVersion", "()Ljava/lang/String;", j_version),
    NM("nativeConstant", "(Ljava/lang/String;[J)Z", j_constant),
};
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved)
{
    JNIEnv *env = NULL;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK)
        return JNI_ERR;
    jclass cls = (*env)->FindClass(env, "org/unmeta/Unmeta");
    if (!cls)
        return JNI_ERR;
    if ((*env)->RegisterNatives(env, cls, methods, (jint)(sizeof(methods) / sizeof(methods[0]))) != 0)
        return JNI_ERR;
    jclass exc = (*env)->FindClass(env, "org/unmeta/UnmetaException");
    if (!exc)
        return JNI_ERR;
    exc_init = (*env)->GetMethodID(env, exc, "<init>", "(I[B)V");
    exc_class = (jclass)(*env)->NewGlobalRef(env, exc);
    if (!exc_init || !exc_class)
        return JNI_ERR;
    return JNI_VERSION_1_6;
}
