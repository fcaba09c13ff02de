# Yocto/OpenEmbedded recipe for edgecite.
# Supported: Yocto Project 5.2 "Walnascar" or later, whose oe-core has Rust 1.85.1 or later
# (edgecite's rust-version is 1.85). 5.0 "Scarthgap" (LTS) ships Rust 1.75, too old for
# edgecite's dependencies: on Scarthgap, add a layer with a Rust of at least 1.85 (for example
# a meta-lts-mixins Rust mixin branch). Not built in this repository's CI: tests/packaging.rs
# checks the fields below, the license checksum and that edgecite-crates.inc matches Cargo.lock.
#
# Update for a release: cross/yocto/update-crates.py --srcrev <release commit> (rewrites
# edgecite-crates.inc from Cargo.lock and pins SRCREV), and set EDGECITE_GIT_URI to your mirror.
SUMMARY = "edgecite: equipment data to inspection findings that cite their evidence"
HOMEPAGE = "https://example.invalid/edgecite"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"

EDGECITE_GIT_URI ?= "git://example.invalid/edgecite.git;protocol=https;branch=main"
SRC_URI = "${EDGECITE_GIT_URI}"
SRCREV = "adbadf852c44aff305b2c8842db43cf1c303b2e2"
S = "${UNPACKDIR}/git"

# No useradd: the unit runs as a systemd DynamicUser ("edgecite"), created at start.
inherit cargo cargo-update-recipe-crates systemd
require ${BPN}-crates.inc

# ONNX Runtime is loaded at run time, not linked: the vendor's build (with its NPU provider)
# installs /usr/lib/edgecite/libonnxruntime.so, which the unit's ORT_DYLIB_PATH names. Add its
# package to RDEPENDS:${PN} in your bbappend; without it the model criteria abstain.

SYSTEMD_SERVICE:${PN} = "edgecite.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

do_install:append() {
    install -d ${D}${systemd_system_unitdir} ${D}${sysconfdir}/edgecite ${D}${datadir}/edgecite/models
    install -m 0644 ${S}/systemd/edgecite.service ${D}${systemd_system_unitdir}/edgecite.service
    install -m 0644 ${S}/configs/gateway.toml ${D}${sysconfdir}/edgecite/edgecite.toml
    # The unit's LoadCredential= directory: secrets such as [mqtt] password_file go here,
    # out of the world-readable config.
    install -d -m 0700 ${D}${sysconfdir}/edgecite/credentials
    # Every shipped model: each models/<name>/ with a manifest.toml, its model file and, when
    # present, its RKNN conversion.
    for manifest in ${S}/models/*/manifest.toml; do
        dir=$(dirname "$manifest")
        name=$(basename "$dir")
        install -d ${D}${datadir}/edgecite/models/$name
        install -m 0644 "$manifest" "$dir/model.onnx" ${D}${datadir}/edgecite/models/$name/
        if [ -f "$dir/model.rknn" ]; then
            install -m 0644 "$dir/model.rknn" ${D}${datadir}/edgecite/models/$name/
        fi
    done
}

FILES:${PN} += "${systemd_system_unitdir}/edgecite.service ${datadir}/edgecite"
CONFFILES:${PN} = "${sysconfdir}/edgecite/edgecite.toml"
