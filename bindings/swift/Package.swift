// swift-tools-version:5.7
// The Swift package over libunmeta. CUnmeta is the C module (module.modulemap
// over unmeta.h); Unmeta is the Swift API. On macOS/Linux it links the
// installed libunmeta (pkg-config "unmeta"); for iOS, replace the
// systemLibrary target with the xcframework's binaryTarget (README.md).
import PackageDescription

let package = Package(
    name: "Unmeta",
    platforms: [.iOS(.v13), .macOS(.v11)],
    products: [
        .library(name: "Unmeta", targets: ["Unmeta"]),
    ],
    targets: [
        .systemLibrary(name: "CUnmeta", path: "Sources/CUnmeta", pkgConfig: "unmeta",
                       providers: [.brew(["unmeta"]), .apt(["libunmeta-dev"])]),
        .target(name: "Unmeta", dependencies: ["CUnmeta"], path: "Sources/Unmeta"),
    ]
)
