-- wrk script: POST one echo chat request per call.
wrk.method = "POST"
wrk.body   = '{"model":"echo","messages":[{"role":"user","content":"hello from wrk"}]}'
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  io.write(string.format('{"requests":%d,"duration_s":%.3f,"rps":%.1f,"errors":%d,"non2xx":%d,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
