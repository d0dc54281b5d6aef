#!/usr/bin/env python3
"""A client that is not ours: Python grpcio stubs generated from dataplane.proto at run
time, driving a running `dataplane run` over its Unix socket. Usage:

    client.py PROTO_DIR SOCKET

Exits non-zero with a message on the first expectation that does not hold."""

import os
import sys
import tempfile

import grpc
from grpc_tools import protoc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def generate(proto_dir, out_dir):
    code = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out_dir}",
                        f"--grpc_python_out={out_dir}", os.path.join(proto_dir, "dataplane.proto")])
    if code != 0:
        sys.exit(f"protoc failed: {code}")
    sys.path.insert(0, out_dir)


def expect_error(call, code, fragment):
    try:
        call()
    except grpc.RpcError as error:
        if error.code() != code:
            sys.exit(f"expected {code}, got {error.code()}: {error.details()}")
        if fragment not in error.details():
            sys.exit(f"expected {fragment!r} in {error.details()!r}")
        return
    sys.exit(f"expected {code}, the call succeeded")


def main():
    proto_dir, socket = sys.argv[1], sys.argv[2]
    out = tempfile.mkdtemp()
    generate(proto_dir, out)
    import dataplane_pb2 as pb
    import dataplane_pb2_grpc as rpc

    # grpc-core sends the socket path as :authority, which the server's HTTP/2 stack
    # refuses as malformed (RST_STREAM PROTOCOL_ERROR): name a plain authority instead.
    channel = grpc.insecure_channel(f"unix:{socket}", options=[("grpc.default_authority", "localhost")])
    grpc.channel_ready_future(channel).result(timeout=10)

    # The standard health service and server reflection are on.
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service="dataplane.v1.Dataplane")).status
    assert status == health_pb2.HealthCheckResponse.SERVING, status
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    services = {s.name for r in replies for s in r.list_services_response.service}
    assert "dataplane.v1.Dataplane" in services, services

    dp = rpc.DataplaneStub(channel)
    names = [n.name for n in dp.ListNetworks(pb.Empty()).networks]
    assert names == ["green-net", "green-db"], names

    # networking-sfc objects: a firewall pair on trunk sub-ports, a group, a classifier, a chain.
    for name, vlan, mac, ip in [("fw1-in", 101, "fa:16:3e:00:0f:01", "10.0.0.201"),
                                ("fw1-out", 102, "fa:16:3e:00:0f:02", "10.0.0.202")]:
        dp.CreateLogicalPort(pb.LogicalPort(name=name, network="green-net", mac=mac, ip=ip, port="fw1", vlan=vlan))
    dp.CreatePortPair(pb.PortPair(name="fw1", ingress="fw1-in", egress="fw1-out"))
    dp.CreatePortPairGroup(pb.PortPairGroup(name="firewalls", port_pairs=["fw1"]))
    dp.CreateFlowClassifier(pb.FlowClassifier(name="web", protocol="tcp", destination_port_range=[80, 80],
                                              logical_source_port="green-vm1"))
    chain = dp.CreatePortChain(pb.PortChain(name="web-chain", chain_id=7, port_pair_groups=["firewalls"],
                                            flow_classifiers=["web"]))
    assert chain.correlation == "mpls", chain

    # Refusals, each with its code and a message naming object and field.
    expect_error(lambda: dp.CreateNetwork(pb.Network(name="other", tenant="green", vni=1001, cidr="10.5.0.0/24")),
                 grpc.StatusCode.ALREADY_EXISTS, 'networks "other": vni: 1001 is already used by network "green-net"')
    expect_error(lambda: dp.CreatePortChain(pb.PortChain(name="again", chain_id=8, port_pair_groups=["firewalls"],
                                                         flow_classifiers=["web"])),
                 grpc.StatusCode.FAILED_PRECONDITION, 'port_chains "again": port_pair_groups')
    expect_error(lambda: dp.DeletePortPairGroup(pb.Name(name="firewalls")),
                 grpc.StatusCode.FAILED_PRECONDITION, 'in use by port_chains "web-chain" (port_pair_groups)')
    expect_error(lambda: dp.CreateLogicalPort(pb.LogicalPort(name="lost", network="green-net", mac="fa:16:3e:00:09:09",
                                                             chassis="compute-9")),
                 grpc.StatusCode.NOT_FOUND, 'logical_ports "lost": chassis: unknown chassis "compute-9"')
    expect_error(lambda: dp.CreateNetwork(pb.Network(name="bad", tenant="green", vni=7, cidr="10.0.0.1/24")),
                 grpc.StatusCode.INVALID_ARGUMENT, 'networks "bad": cidr:')
    # No traffic has flowed: the connection table is empty, and the listing complete.
    listed = dp.ListConnections(pb.ConnectionFilter(tenant="green"))
    assert list(listed.connections) == [] and not listed.truncated, listed

    generation = dp.Stats(pb.Empty()).generation
    assert generation == 7, generation  # six creations after the start
    chains = [c.name for c in dp.ListPortChains(pb.Empty()).port_chains]
    assert chains == ["web-chain"], chains

    # Delete in dependency order succeeds.
    dp.DeletePortChain(pb.Name(name="web-chain"))
    dp.DeletePortPairGroup(pb.Name(name="firewalls"))

    # A trace by fields.
    reply = dp.Trace(pb.TraceRequest(logical_port="green-vm1",
                                     fields=pb.PacketFields(dst_ip="10.0.0.6", protocol="udp", dst_port=53)))
    assert [s.stage for s in reply.steps] == ["ingress", "l2", "egress"], reply
    assert [o.port for o in reply.outputs] == ["vm2"], reply

    stats = dp.Stats(pb.Empty())
    assert [p.port for p in stats.total.ports] == ["uplink", "vm1", "vm2", "vm3", "fw1"], stats
    assert any(d.reason == "no_route" for d in stats.total.drops), stats
    print("python client: ok")


if __name__ == "__main__":
    main()
