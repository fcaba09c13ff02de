# Yocto/OpenEmbedded recipe for edgecite (template: not built in this repository's CI).
# Generate the crate list with `bitbake -c update_crates edgecite` (cargo-update-recipe-crates)
# and commit it as edgecite-crates.inc next to this recipe.
SUMMARY = "edgecite: equipment data to inspection findings that cite their evidence"
HOMEPAGE = "https://example.invalid/edgecite"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=1;endline=8;md5=REPLACE_WITH_REAL_MD5"

SRC_URI = "git://REPLACE_WITH_YOUR_MIRROR/edgecite.git;protocol=https;branch=main \
           file://edgecite.toml"
SRCREV = "${AUTOREV}"
S = "${WORKDIR}/git"

inherit cargo cargo-update-recipe-crates systemd useradd
require ${BPN}-crates.inc

# The vendor's ONNX Runtime build (with its NPU execution provider) provides
# /usr/lib/edgecite/libonnxruntime.so; the unit points ORT_DYLIB_PATH there.
RDEPENDS:${PN} += "onnxruntime"

SYSTEMD_SERVICE:${PN} = "edgecite.service"
SYSTEMD_AUTO_ENABLE = "enable"

do_install:append() {
    install -d ${D}${systemd_system_unitdir} ${D}${sysconfdir}/edgecite ${D}${datadir}/edgecite/models
    install -m 0644 ${S}/systemd/edgecite.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${WORKDIR}/edgecite.toml ${D}${sysconfdir}/edgecite/edgecite.toml
    cp -r ${S}/models/pump_anomaly ${D}${datadir}/edgecite/models/
}

FILES:${PN} += "${systemd_system_unitdir}/edgecite.service ${datadir}/edgecite"
CONFFILES:${PN} = "${sysconfdir}/edgecite/edgecite.toml"
