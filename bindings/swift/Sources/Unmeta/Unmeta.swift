// Unmeta.swift - libunmeta for Swift: strip, check and inspect photos and
// videos from Data or file URLs. Every call creates its own library
// context, so calls may run on any thread, in parallel.
import CUnmeta
import Foundation

/// A libunmeta failure: `code` is the library's UNMETA_E_* value, `message`
/// its detail (e.g. "JPEG: marker 0xE1 at byte 20 runs past the end of the file").
public struct UnmetaError: Error, CustomStringConvertible, Equatable {
    public let code: Int32
    public let message: String

    public static let invalid = UNMETA_E_INVALID
    public static let noMemory = UNMETA_E_NOMEM
    public static let io = UNMETA_E_IO
    public static let unsupported = UNMETA_E_UNSUPPORTED
    public static let malformed = UNMETA_E_MALFORMED
    public static let truncated = UNMETA_E_TRUNCATED
    public static let limit = UNMETA_E_LIMIT
    public static let feature = UNMETA_E_FEATURE

    public var description: String { "unmeta error \(code): \(message)" }
}

public enum Unmeta {
    /// What to do with an ICC colour profile.
    public enum ICC {
        /// Keep it, with its identifying fields neutralised (colours unchanged).
        case keep
        /// Drop it.
        case strip
    }

    /// The loaded library's version, e.g. "0.1.0".
    public static var version: String { String(cString: unmeta_version_string()) }

    /// Writes `input` without its metadata to `output`. The output file appears
    /// only when the whole operation succeeds (a temporary file renamed into
    /// place); `output` may equal `input`. `keepDepth` keeps HEIF depth maps,
    /// `keepMotion` a motion photo's video, cleaned (the command's `--keep-depth`
    /// and `--keep-motion`). Throws `UnmetaError`.
    public static func strip(_ input: URL, to output: URL, icc: ICC = .keep,
                             applyOrientation: Bool = false, keepDepth: Bool = false,
                             keepMotion: Bool = false) throws {
        try withContext(icc: icc, applyOrientation: applyOrientation, keepDepth: keepDepth,
                        keepMotion: keepMotion) { ctx in
            let rc = input.withUnsafeFileSystemRepresentation { inPath -> Int32 in
                output.withUnsafeFileSystemRepresentation { outPath -> Int32 in
                    guard let inPath = inPath, let outPath = outPath else { return UNMETA_E_INVALID }
                    return unmeta_strip_path(ctx, inPath, outPath)
                }
            }
            try check(rc, ctx)
        }
    }

    /// `input` without its metadata.
    public static func strip(_ input: Data, icc: ICC = .keep, applyOrientation: Bool = false,
                             keepDepth: Bool = false, keepMotion: Bool = false) throws -> Data {
        try withContext(icc: icc, applyOrientation: applyOrientation, keepDepth: keepDepth,
                        keepMotion: keepMotion) { ctx in
            var out: UnsafeMutableRawPointer? = nil
            var outSize: UInt64 = 0
            let rc = input.withUnsafeBytes { buf in
                unmeta_strip_memory(&out, &outSize, ctx, buf.baseAddress, UInt64(buf.count))
            }
            defer { unmeta_free(out) }
            try check(rc, ctx)
            guard let p = out else { return Data() }
            return Data(bytes: p, count: Int(outSize))
        }
    }

    /// True when `input` holds something privacy-relevant. With `keepDepth` or
    /// `keepMotion`, blocks those options keep are judged as kept.
    public static func check(_ input: Data, keepDepth: Bool = false, keepMotion: Bool = false) throws -> Bool {
        try withSource(input, keepDepth: keepDepth, keepMotion: keepMotion) { ctx, src in
            var dirty: Int32 = 0
            try check(unmeta_check(&dirty, ctx, src), ctx)
            return dirty != 0
        }
    }

    /// The report of docs/json.md: "format", "dirty", "blocks", "findings", "notes".
    public static func inspect(_ input: Data, keepDepth: Bool = false,
                               keepMotion: Bool = false) throws -> [String: Any] {
        try withSource(input, keepDepth: keepDepth, keepMotion: keepMotion) { ctx, src in
            var report: OpaquePointer? = nil
            try check(unmeta_inspect(&report, ctx, src), ctx)
            defer { unmeta_report_free(report) }
            var json: UnsafeMutablePointer<CChar>? = nil
            try check(unmeta_report_json(&json, report), ctx)
            defer { unmeta_free(json) }
            let data = Data(bytes: json!, count: strlen(json!))
            return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        }
    }

    // MARK: - plumbing

    private static func check(_ rc: Int32, _ ctx: OpaquePointer?) throws {
        if rc >= 0 { return }
        var message = ctx.map { String(cString: unmeta_ctx_last_error($0)) } ?? ""
        if message.isEmpty { message = String(cString: unmeta_strerror(rc)) }
        throw UnmetaError(code: rc, message: message)
    }

    private static func withContext<T>(icc: ICC = .keep, applyOrientation: Bool = false,
                                       keepDepth: Bool = false, keepMotion: Bool = false,
                                       _ body: (OpaquePointer) throws -> T) throws -> T {
        var ctx: OpaquePointer? = nil
        try check(unmeta_ctx_new(&ctx), nil)
        defer { unmeta_ctx_free(ctx) }
        try check(unmeta_ctx_set_option(ctx, UNMETA_OPT_ICC, icc == .keep ? Int64(UNMETA_ICC_KEEP)
                                                                           : Int64(UNMETA_ICC_STRIP)), ctx)
        try check(unmeta_ctx_set_option(ctx, UNMETA_OPT_APPLY_ORIENTATION, applyOrientation ? 1 : 0), ctx)
        try check(unmeta_ctx_set_option(ctx, UNMETA_OPT_KEEP_DEPTH, keepDepth ? 1 : 0), ctx)
        try check(unmeta_ctx_set_option(ctx, UNMETA_OPT_KEEP_MOTION, keepMotion ? 1 : 0), ctx)
        return try body(ctx!)
    }

    private static func withSource<T>(_ input: Data, keepDepth: Bool = false, keepMotion: Bool = false,
                                      _ body: (OpaquePointer, OpaquePointer?) throws -> T) throws -> T {
        try withContext(keepDepth: keepDepth, keepMotion: keepMotion) { ctx in
            try input.withUnsafeBytes { buf in
                var src: OpaquePointer? = nil
                try check(unmeta_source_new_memory(&src, buf.baseAddress, UInt64(buf.count)), ctx)
                defer { unmeta_source_free(src) }
                return try body(ctx, src)
            }
        }
    }
}
