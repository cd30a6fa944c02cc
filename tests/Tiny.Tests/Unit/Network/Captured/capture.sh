#!/bin/bash
# Captures the netlink messages that iproute2's `ip` and nftables' `nft` send, as the reference for
# the byte-exact encoding tests (NetlinkEncodingTests, NftablesEncodingTests). Run as root on a
# scratch machine: it creates and deletes the bridge tinytcap0, the netns tinytcapns and the table
# ip tiny_test_cap. Output: one line per sendmsg/sendto buffer, "NAME.N HEX" (N counts the buffers
# one command sent; ip sends a 32-byte probe first), plus "#" notes of the values the tests reuse
# (ifindex, netns fd, sequence numbers are whatever the tools used).
# Usage: sudo ./capture.sh > captured.txt
set -euo pipefail
cap() {
    local name=$1; shift
    strace -qq -e trace=sendmsg,sendto -e write=all -xx -s 0 "$@" 2>&1 >/dev/null |
        awk -v name="$name" '
            /^ [*] [0-9]+ bytes in buffer/ { if (hex != "") print name "." n++ " " hex; hex = ""; next }
            /^ [|] [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]  / { line = substr($0, 11, 49); gsub(/ /, "", line); hex = hex line; next }
            /^(sendmsg|sendto)\(/ { if (hex != "") print name "." n++ " " hex; hex = "" }
            END { if (hex != "") print name "." n++ " " hex }'
}
tmp=$(mktemp -d); trap 'ip link del tinytcap0 2>/dev/null; ip netns del tinytcapns 2>/dev/null; nft delete table ip tiny_test_cap 2>/dev/null; rm -rf "$tmp"' EXIT
echo "# $(ip -V); $(nft -v); kernel $(uname -r)"
ip netns add tinytcapns
cap bridge_create ip link add tinytcap0 up type bridge
echo "# ifindex of tinytcap0: $(cat /sys/class/net/tinytcap0/ifindex)"
cap address_add ip addr add 10.77.0.1/16 dev tinytcap0
# ip opens the netns file as fd 4 for IFLA_NET_NS_FD.
cap veth_create ip link add tinytcap1 mtu 1500 master tinytcap0 up type veth peer name eth0 mtu 1500 netns tinytcapns
cap container_getlink ip -n tinytcapns link show eth0
echo "# ifindex of eth0 in tinytcapns: $(ip netns exec tinytcapns cat /sys/class/net/eth0/ifindex)"
cap container_lo_up ip -n tinytcapns link set lo up
cap container_eth0_up ip -n tinytcapns link set eth0 up
cap container_address_add ip -n tinytcapns addr add 10.77.0.2/16 dev eth0
cap container_default_route ip -n tinytcapns route add default via 10.77.0.1
cat > "$tmp/setup.nft" <<'NFT'
add table ip tiny_test_cap
add chain ip tiny_test_cap prerouting { type nat hook prerouting priority -100; }
add chain ip tiny_test_cap output { type nat hook output priority -100; }
add chain ip tiny_test_cap postrouting { type nat hook postrouting priority 100; }
add rule ip tiny_test_cap postrouting ip saddr 127.0.0.0/8 oifname "tinytcap0" masquerade
NFT
cat > "$tmp/rules.nft" <<'NFT'
add rule ip tiny_test_cap postrouting ip saddr 10.77.0.2 oifname != "tinytcap0" masquerade comment "c0ffee"
add rule ip tiny_test_cap prerouting fib daddr type local tcp dport 18080 dnat to 10.77.0.2:80 comment "c0ffee"
add rule ip tiny_test_cap output fib daddr type local tcp dport 18080 dnat to 10.77.0.2:80 comment "c0ffee"
add rule ip tiny_test_cap prerouting ip daddr 127.0.0.1 udp dport 5353 dnat to 10.77.0.2:53 comment "c0ffee"
NFT
cat > "$tmp/subnet.nft" <<'NFT'
add rule ip tiny_test_cap postrouting ip saddr 10.77.0.0/16 oifname != "tinytcap0" masquerade comment "masquerade 10.77.0.0/16"
add rule ip tiny_test_cap postrouting ip saddr 10.77.16.0/20 oifname != "tinytcap0" masquerade comment "masquerade 10.77.16.0/20"
NFT
cap nft_setup nft -f "$tmp/setup.nft"
cap nft_rules nft -e -f "$tmp/rules.nft"
cap nft_subnet_rules nft -f "$tmp/subnet.nft"
echo "# rules: table handle 1, chains 1-3, the setup rule 4, the rules of rules.nft 5-8 in order"
cap nft_delete_rule nft delete rule ip tiny_test_cap postrouting handle 5
cap nft_delete_table nft delete table ip tiny_test_cap
cap veth_delete ip link del tinytcap1
