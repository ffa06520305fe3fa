package org.unmeta;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * A libunmeta failure: {@link #getCode()} is the library's UNMETA_E_* code
 * (compare with the constants below), the message is its detail, e.g.
 * "JPEG: marker 0xE1 at byte 20 runs past the end of the file".
 */
public class UnmetaException extends IOException {
    private static final long serialVersionUID = 1L;

    /* The codes are asked from the loaded library, never copied from the header. */
    public static final int E_INVALID = Unmeta.constantInt("UNMETA_E_INVALID");
    public static final int E_NOMEM = Unmeta.constantInt("UNMETA_E_NOMEM");
    public static final int E_IO = Unmeta.constantInt("UNMETA_E_IO");
    public static final int E_UNSUPPORTED = Unmeta.constantInt("UNMETA_E_UNSUPPORTED");
    public static final int E_MALFORMED = Unmeta.constantInt("UNMETA_E_MALFORMED");
    public static final int E_TRUNCATED = Unmeta.constantInt("UNMETA_E_TRUNCATED");
    public static final int E_LIMIT = Unmeta.constantInt("UNMETA_E_LIMIT");
    public static final int E_STATE = Unmeta.constantInt("UNMETA_E_STATE");
    public static final int E_CANCELED = Unmeta.constantInt("UNMETA_E_CANCELED");
    public static final int E_FEATURE = Unmeta.constantInt("UNMETA_E_FEATURE");

    private final int code;

    public UnmetaException(int code, String message) {
        super(message);
        this.code = code;
    }

    /** Called from the native side: the message arrives as UTF-8 bytes. */
    UnmetaException(int code, byte[] message) {
        this(code, new String(message, StandardCharsets.UTF_8));
    }

    /** The UNMETA_E_* code (negative). */
    public int getCode() {
        return code;
    }
}
