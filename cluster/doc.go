// Package cluster runs a fleet of wasmhot hosts on one code version over
// NATS JetStream.
//
// A node ([Join]) is a host with a *nats.Conn and a name. The fleet keeps
// three things in JetStream:
//
//   - the code store, an object store of module bytes named by their
//     sha256 (PREFIX_code);
//   - the fleet bucket, a key-value bucket (PREFIX_fleet) whose key
//     "desired" holds the desired version of every module; its history is
//     the audit log of rollouts. Its key "rollout" is the rollout lock,
//     present while a rollout runs;
//   - the nodes bucket (PREFIX_nodes), where each node writes a heartbeat
//     record (ready, its modules' current and old versions) that expires
//     after a TTL when the node stops.
//
// A rollout ([Node.Load], [Node.Rollback], [Node.Delete]) is two-phase:
// the coordinator (any node) takes the lock by a key-value create (a
// second rollout gets [ErrBusy]), asks every live node to prepare (fetch
// the bytes, check their sha256, compile, check imports against the
// node's own policy, instantiate once), and only when every node prepared
// writes the new desired versions with a compare-and-set: that write is
// the decision. It then asks every node to finish (switch to the prepared
// code, all modules of the batch at once); a node that refused makes the
// coordinator abort everywhere ([ErrAborted]) and nothing changes.
//
// Nodes watch the desired versions: a node that prepared a rollout
// finishes it as soon as it sees the decision, and a node that did not
// (it was down, restarting, or partitioned) converges to the desired
// versions when it joins, when they change and after a reconnect, before
// it reports itself ready.
//
// Purge and soft purge ([Node.Purge], [Node.SoftPurge]) run on every live
// node and return each node's answer, as rpc:multicall of code:purge/1.
package cluster
