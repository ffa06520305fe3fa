package org.unmeta;

import java.nio.charset.StandardCharsets;

/**
 * libunmeta for Java and Android: removes what photos and videos say about
 * the people who made them, leaving pixels and packets untouched.
 *
 * <pre>
 * try (Unmeta u = new Unmeta()) {
 *     byte[] clean = u.strip(photoBytes);
 *     // or, from a content URI:
 *     // u.strip(inPfd.getFd(), outPfd.getFd());
 * }
 * </pre>
 *
 * One object holds one library context. Its methods are synchronized, so an
 * object may be shared, but calls on it run one at a time; use one object
 * per thread to work in parallel. Close it (or use try-with-resources) to
 * free the context; any use after close throws IllegalStateException.
 */
public final class Unmeta implements AutoCloseable {
    static {
        System.loadLibrary("unmeta_jni");
    }

    /** Option keys for {@link #setOption}, from the loaded library. */
    public static final int OPT_ICC = constantInt("UNMETA_OPT_ICC");
    public static final int OPT_APPLY_ORIENTATION = constantInt("UNMETA_OPT_APPLY_ORIENTATION");
    public static final int OPT_MAX_BLOCK_SIZE = constantInt("UNMETA_OPT_MAX_BLOCK_SIZE");
    public static final int OPT_MAX_DEPTH = constantInt("UNMETA_OPT_MAX_DEPTH");
    public static final int OPT_MAX_ITEMS = constantInt("UNMETA_OPT_MAX_ITEMS");
    public static final int OPT_MAX_MEMORY = constantInt("UNMETA_OPT_MAX_MEMORY");
    public static final int OPT_SPOOL_LIMIT = constantInt("UNMETA_OPT_SPOOL_LIMIT");
    public static final int OPT_MAX_INFLATE = constantInt("UNMETA_OPT_MAX_INFLATE");
    /** 1 keeps HEIF depth maps (the command's --keep-depth); default 0 removes them. */
    public static final int OPT_KEEP_DEPTH = constantInt("UNMETA_OPT_KEEP_DEPTH");
    /**
     * 1 keeps a motion photo's video, cleaned as an MP4, with the XMP that
     * locates it (--keep-motion); default 0 removes the video. Phones write
     * motion photos by default.
     */
    public static final int OPT_KEEP_MOTION = constantInt("UNMETA_OPT_KEEP_MOTION");
    /** Values of OPT_ICC: keep the profile neutralised (default), or drop it. */
    public static final int ICC_KEEP = constantInt("UNMETA_ICC_KEEP");
    public static final int ICC_STRIP = constantInt("UNMETA_ICC_STRIP");

    private long handle; // unmeta_ctx *, 0 once closed

    /** A new context with the library's safe defaults. */
    public Unmeta() throws UnmetaException {
        handle = nativeNew();
    }

    private long live() {
        if (handle == 0)
            throw new IllegalStateException("Unmeta: used after close()");
        return handle;
    }

    private static byte[] notNull(byte[] b, String what) {
        if (b == null)
            throw new NullPointerException(what);
        return b;
    }

    private static void checkFd(int fd, String what) {
        if (fd < 0)
            throw new IllegalArgumentException(what + " must be an open file descriptor, not " + fd);
    }

    /** Sets an option (OPT_*); UnmetaException E_INVALID for a bad key or value. */
    public synchronized void setOption(int key, long value) throws UnmetaException {
        nativeSetOption(live(), key, value);
    }

    /** The input without its metadata. */
    public synchronized byte[] strip(byte[] input) throws UnmetaException {
        return nativeStripBytes(live(), notNull(input, "input"));
    }

    /**
     * Reads inFd from its current position and writes the stripped file to
     * outFd at its current position (ParcelFileDescriptor.getFd() values).
     * Neither is closed. A pipe or socket input is held in memory up to
     * OPT_SPOOL_LIMIT. On failure, outFd may hold a partial output: write
     * to a temporary file and rename it only on success.
     */
    public synchronized void strip(int inFd, int outFd) throws UnmetaException {
        checkFd(inFd, "inFd");
        checkFd(outFd, "outFd");
        nativeStripFd(live(), inFd, outFd);
    }

    /** What the input reveals, as the JSON report of docs/json.md. */
    public synchronized String inspectJson(byte[] input) throws UnmetaException {
        return new String(nativeInspectBytes(live(), notNull(input, "input")), StandardCharsets.UTF_8);
    }

    public synchronized String inspectJson(int fd) throws UnmetaException {
        checkFd(fd, "fd");
        return new String(nativeInspectFd(live(), fd), StandardCharsets.UTF_8);
    }

    /** True when the input holds something privacy-relevant. */
    public synchronized boolean check(byte[] input) throws UnmetaException {
        return nativeCheckBytes(live(), notNull(input, "input"));
    }

    public synchronized boolean check(int fd) throws UnmetaException {
        checkFd(fd, "fd");
        return nativeCheckFd(live(), fd);
    }

    /** Frees the context; later calls throw IllegalStateException. Idempotent. */
    @Override
    public synchronized void close() {
        if (handle != 0) {
            nativeFree(handle);
            handle = 0;
        }
    }

    /** The loaded library's version, e.g. "0.1.0". */
    public static String version() {
        return nativeVersion();
    }

    /**
     * The value of a numeric macro of unmeta.h by name (e.g.
     * "UNMETA_E_TRUNCATED"); IllegalArgumentException when the library does
     * not know it.
     */
    public static long constant(String name) {
        long[] out = new long[1];
        if (!nativeConstant(name, out))
            throw new IllegalArgumentException("libunmeta has no constant " + name);
        return out[0];
    }

    static int constantInt(String name) {
        return (int) constant(name);
    }

    private static native long nativeNew() throws UnmetaException;
    private static native void nativeFree(long ctx);
    private static native void nativeSetOption(long ctx, int key, long value) throws UnmetaException;
    private static native byte[] nativeStripBytes(long ctx, byte[] input) throws UnmetaException;
    private static native void nativeStripFd(long ctx, int inFd, int outFd) throws UnmetaException;
    private static native byte[] nativeInspectBytes(long ctx, byte[] input) throws UnmetaException;
    private static native byte[] nativeInspectFd(long ctx, int fd) throws UnmetaException;
    private static native boolean nativeCheckBytes(long ctx, byte[] input) throws UnmetaException;
    private static native boolean nativeCheckFd(long ctx, int fd) throws UnmetaException;
    private static native String nativeVersion();
    private static native boolean nativeConstant(String name, long[] out);
}
