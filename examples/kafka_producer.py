#!/usr/bin/env python3
"""A producer of llmgw jobs that is not the ingress: writes N chat jobs straight to Kafka and waits for their
replies on its own reply topic, keeping one answer per job id (the contract: docs/KAFKA.md).

    pip install confluent-kafka==2.16.1
    python3 examples/kafka_producer.py --brokers localhost:9092 --prefix llmgw --tenant nightly-batch -n 10

Prints one JSON line per job on stdout, in the order the jobs were sent:
    {"id": ..., "status": 200, "run_id": ..., "content": "...", "cost_nusd": ...}
and a summary on stderr. Exits 0 when every job was answered with status 200, 1 when one was answered with
an error or none came before --timeout-s, 2 on bad arguments.

Delivery is at least once: a job may run twice (a worker died after answering but before committing), and a
producer may itself send a job twice (--resend: a retry after a produce that timed out). Either way two
final replies come for one id, with different run_ids; this keeps the first and counts the others. A streamed
job's chunks are assembled from the run whose final reply is kept, never mixed across runs."""
import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", default="localhost:9092", help="Kafka bootstrap servers")
    ap.add_argument("--prefix", default="llmgw", help="the gateway's LLMGW_TOPIC_PREFIX")
    ap.add_argument("--reply-topic", help="where the replies go (default <prefix>.replies.batch.example)")
    ap.add_argument("--create-topic", action="store_true",
                    help="create the reply topic (1 partition) when it does not exist")
    ap.add_argument("--tenant", required=True, help="the tenant the spend is recorded under")
    ap.add_argument("--user", default="", help="the end user recorded in the ledger (optional)")
    ap.add_argument("--model", default="gpt-4o-mini")
    ap.add_argument("-n", type=int, default=3, help="how many jobs (1..10000)")
    ap.add_argument("--stream", action="store_true", help="ask for streamed answers (chunks, then a final reply)")
    ap.add_argument("--resend", type=int, default=0, help="send the first K jobs twice (duplicates on purpose)")
    ap.add_argument("--timeout-s", type=float, default=120.0,
                    help="how long to wait for the replies; also each job's deadline")
    a = ap.parse_args(argv)
    if not 1 <= a.n <= 10000 or not 0 <= a.resend <= a.n or not 1 <= a.timeout_s <= 86400:
        ap.error("need 1 <= n <= 10000, 0 <= resend <= n and 1 <= timeout-s <= 86400")
    if a.reply_topic is None:
        a.reply_topic = f"{a.prefix}.replies.batch.example"
    return a


def ensure_topic(brokers, topic):
    """Creates topic with one partition unless it exists (the broker may forbid auto-creation)."""
    admin = AdminClient({"bootstrap.servers": brokers})
    if topic in admin.list_topics(timeout=10).topics:
        return
    fut = admin.create_topics([NewTopic(topic, num_partitions=1)])[topic]
    try:
        fut.result(30)
    except KafkaException as e:
        if e.args[0].code() != e.args[0].TOPIC_ALREADY_EXISTS:
            raise


def partition_end(consumer, tp, wait_s=15.0):
    """The partition's high watermark. A topic created a moment ago may not be known to every broker yet:
    ask again for a few seconds before giving up."""
    until = time.monotonic() + wait_s
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=5)[1]
        except KafkaException as e:
            if e.args[0].code() != KafkaError._UNKNOWN_PARTITION or time.monotonic() > until:
                raise
            time.sleep(0.2)


def new_traceparent():
    """A W3C trace context for the job: the worker copies it onto the reply and the cost event."""
    return f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"


def make_job(args, content, now_ms):
    return {
        "v": 1,
        "id": str(uuid.uuid4()),          # unique per job: the Kafka key, the reply's id, the ledger's request_id
        "kind": "chat",                   # must match the topic: <prefix>.jobs.chat
        "tenant": args.tenant,
        "user": args.user,
        "created_ms": now_ms,
        "deadline_ms": now_ms + int(args.timeout_s * 1000),  # a worker drops the job unanswered after this
        "reply_to": {"topic": args.reply_topic, "partition": 0},
        "stream": args.stream,
        "body": {"model": args.model, "messages": [{"role": "user", "content": content}]},
    }


class Answers:
    """The replies of our jobs, one final answer per id (the first one), chunks grouped by run."""

    def __init__(self, ids):
        self.ids = set(ids)
        self.final = {}        # id -> the first final reply
        self.chunks = {}       # (id, run_id) -> [chunk replies]
        self.finals_seen = 0   # every final reply of ours, duplicates included
        self.duplicates = 0

    def take(self, reply):
        rid = reply.get("id")
        if rid not in self.ids:
            return  # another producer's reply on a shared topic, or an old one
        if not reply["final"]:
            self.chunks.setdefault((rid, reply.get("run_id")), []).append(reply)
            return
        self.finals_seen += 1
        if rid in self.final:
            self.duplicates += 1  # a second run of the job: already answered, drop it
            return
        self.final[rid] = reply

    def content(self, rid):
        reply = self.final[rid]
        if reply["status"] != 200:
            return None
        body = reply["body"]
        if "choices" in body:  # not streamed: the whole completion
            return body["choices"][0]["message"]["content"]
        # streamed: the final reply ends the stream; the text is in its run's chunks, in seq order
        parts = sorted(self.chunks.get((rid, reply.get("run_id")), []), key=lambda r: r["seq"])
        return "".join(c["body"]["choices"][0]["delta"].get("content") or ""
                       for c in parts if c["body"].get("choices"))


def main(argv):
    args = parse_args(argv)
    if args.create_topic:
        ensure_topic(args.brokers, args.reply_topic)

    # Read the reply partition from where it ends now: replies to these jobs can only come after this.
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": f"example-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    tp = TopicPartition(args.reply_topic, 0)
    tp.offset = partition_end(consumer, tp)
    consumer.assign([tp])

    now_ms = int(time.time() * 1000)
    jobs = [make_job(args, f"job {i} of {args.n}", now_ms) for i in range(args.n)]
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True, "acks": "all"})
    failed = []

    def delivered(err, msg):
        if err:
            failed.append(err)

    records = 0
    for job in jobs + jobs[:args.resend]:
        producer.produce(f"{args.prefix}.jobs.chat", key=job["id"], value=json.dumps(job),
                         headers=[("traceparent", new_traceparent()), ("llmgw-id", job["id"])], on_delivery=delivered)
        records += 1
        producer.poll(0)
    if producer.flush(30) or failed:
        print(f"could not produce every job: {failed or 'flush timed out'}", file=sys.stderr)
        return 1

    answers = Answers(j["id"] for j in jobs)
    until = time.monotonic() + args.timeout_s
    # Every record sent gets a final reply: wait for all of them (so the duplicates are seen and dropped), or
    # until the timeout; a job whose deadline passed before a worker took it gets none (docs/KAFKA.md).
    while time.monotonic() < until and (len(answers.final) < len(jobs) or answers.finals_seen < records):
        msg = consumer.poll(0.2)
        if msg is None or msg.error():
            continue
        answers.take(json.loads(msg.value()))
    consumer.close()

    ok = True
    for job in jobs:
        reply = answers.final.get(job["id"])
        if reply is None:
            print(json.dumps({"id": job["id"], "status": None}))
            ok = False
            continue
        out = {"id": job["id"], "status": reply["status"], "run_id": reply.get("run_id"),
               "content": answers.content(job["id"]), "cost_nusd": reply["cost"]}
        if reply["status"] != 200:
            out["error"] = reply["body"].get("error")
            ok = False
        print(json.dumps(out))
    print(f"answered {len(answers.final)}/{len(jobs)}, records sent {records}, final replies {answers.finals_seen},"
          f" duplicates dropped {answers.duplicates}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
