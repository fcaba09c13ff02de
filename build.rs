//! Generates the Sparkplug B protobuf types (`OUT_DIR/org.eclipse.tahu.protobuf.rs`) from
//! Eclipse Tahu's `proto/sparkplug_b.proto`, unchanged. protox parses the file in pure Rust,
//! so no `protoc` is needed on the host or for cross builds.

fn main() {
    println!("cargo:rerun-if-changed=proto/sparkplug_b.proto");
    let fds =
        protox::compile(["sparkplug_b.proto"], ["proto"]).unwrap_or_else(|e| panic!("proto/sparkplug_b.proto: {e}"));
    prost_build::Config::new()
        .compile_fds(fds)
        .unwrap_or_else(|e| panic!("proto/sparkplug_b.proto: cannot generate Rust types: {e}"));
}
