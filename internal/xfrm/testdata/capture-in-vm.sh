#!/bin/sh
# Re-runs the real-kernel tests (kernel_linux_test.go) inside a throwaway
# QEMU guest booted with Debian's stock kernel, which has ESP, AH, IPComp
# and AES-GCM as modules; kernels without them (many CI VMs) skip
# TestKernelESP. The guest sees the host's root read-only over 9p, so it
# uses the host's ip, setpriv and testdata/, and writes the captures to
# OUT/testdata.
# Refresh testdata/kernel-esp.* by copying them from there.
#
# Needs root, Debian/Ubuntu apt, and ~100 MB in OUT. Usage:
#   sh internal/xfrm/testdata/capture-in-vm.sh [OUT]   (from the module root)
set -eu
OUT=${1:-/tmp/xfrm-vm}
mkdir -p "$OUT/testdata" "$OUT/k"
command -v qemu-system-x86_64 >/dev/null || apt-get install -y --no-install-recommends qemu-system-x86
[ -x /bin/busybox ] || apt-get install -y busybox-static
cd "$OUT/k"
PKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
KV=${PKG#linux-image-}
[ -f "$PKG.deb" ] || { apt-get download "$PKG" && mv "$PKG"_*.deb "$PKG.deb"; }
rm -rf root initrd && dpkg -x "$PKG.deb" root && busybox depmod -b root "$KV"
M=root/lib/modules/$KV
I=initrd/lib/modules/$KV/kernel
mkdir -p initrd/bin initrd/sbin "$I/fs" "$I/drivers" "$I/arch/x86"
cp /bin/busybox initrd/bin/ && ln -s busybox initrd/bin/sh && ln -s ../bin/busybox initrd/sbin/modprobe
cp "$M"/modules.* "initrd/lib/modules/$KV/"
cp -r "$M/kernel/net" "$M/kernel/crypto" "$M/kernel/lib" "$I/"
cp -r "$M/kernel/fs/9p" "$M/kernel/fs/netfs" "$M/kernel/fs/fscache" "$I/fs/"
cp -r "$M/kernel/drivers/virtio" "$I/drivers/"
cp -r "$M/kernel/arch/x86/crypto" "$I/arch/x86/"
cat > initrd/init <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_pci 9pnet_virtio 9p xfrm_user esp4 esp6 ah4 ah6 ipcomp ipcomp6 xfrm4_tunnel xfrm6_tunnel gcm ghash-generic ctr seqiv echainiv authenc authencesn deflate; do
	modprobe $m || echo "modprobe $m failed"
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /newroot || poweroff -f
mount -t proc proc /newroot/proc; mount -t sysfs sys /newroot/sys; mount -t devtmpfs dev /newroot/dev
mount -t tmpfs tmp /newroot/tmp; mount -t tmpfs run /newroot/run
mkdir -p /newroot/tmp/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /newroot/tmp/out
chroot /newroot /bin/sh -c 'cd "$(cat /tmp/out/pkgdir)" && PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp ZEROCHECK_XFRM_SAVE_TESTDATA=/tmp/out/testdata /tmp/out/xfrm.test -test.v -test.count=1; echo "guest test exit $?"'
poweroff -f
INIT
chmod +x initrd/init
(cd initrd && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >../initrd.gz)
cd - >/dev/null
go test -c -o "$OUT/xfrm.test" ./internal/xfrm
echo "$(pwd)/internal/xfrm" >"$OUT/pkgdir" # the guest runs the tests there, read-only
# TCG, not KVM: nested KVM hangs early in boot on some hosts, and TCG boots
# this guest and runs the tests in well under a minute.
timeout 600 qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot \
	-kernel "$OUT/k/root/boot/vmlinuz-$KV" -initrd "$OUT/k/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs local,path="$OUT",mount_tag=out,security_model=none | tee "$OUT/guest.log"
grep -q "guest test exit 0" "$OUT/guest.log"
