// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf_features.h"
#include "metrics.h"
#include "session.h"
#include "version.h"

/* Histogram buckets: the kernel's log2 slots (slot i: [2^i, 2^(i+1)) ns)
 * from 1 us to ~69 s, as `le` bounds of 2^(i+1) ns in seconds.
 */
#define FIRST_SLOT 9
#define LAST_SLOT 35

static void put(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len) {
			t->len += n;
			return;
		}
		size_t cap = t->cap ? 2 * t->cap : 64 * 1024;
		char *grown = n < 0 ? NULL : realloc(t->buf, cap);

		if (!grown) {
			t->failed = 1;
			return;
		}
		t->buf = grown;
		t->cap = cap;
	}
}

/* The shortest text that reads back as the same double (as Go's client
 * does): %.9g would round a counter past 1e9 or a bucket bound like 2^30 ns. */
static void put_double(struct metrics_text *t, double v)
{
	char buf[32];
	int prec;

	for (prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (prec == 17 || strtod(buf, NULL) == v)
			break;
	}
	put(t, "%s", buf);
}

static void family(struct metrics_text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values: backslash, quote and newline escaped. */
static void put_label_value(struct metrics_text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			put(t, "\\%c", *v);
		else if (*v == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *v);
	}
}

static void labels(struct metrics_text *t, const struct session *s)
{
	put(t, "{pid=\"%d\",comm=\"", s->target.pid);
	put_label_value(t, s->target.comm);
	put(t, "\",python_version=\"");
	put_label_value(t, s->target.build.version);
	/* Validated hex and UUIDs only (cgroup_labels.h): never free text. */
	put(t, "\",container_id=\"%s\",pod_uid=\"%s\"", s->labels.container_id, s->labels.pod_uid);
}

static void sample(struct metrics_text *t, const char *name, const struct session *s,
		   const char *extra, double v)
{
	put(t, "%s", name);
	labels(t, s);
	put(t, "%s} ", extra ? extra : "");
	put_double(t, v);
	put(t, "\n");
}

static void histogram(struct metrics_text *t, const char *name, const struct session *s,
		      const __u64 *slots, double sum_s)
{
	uint64_t cum = 0, total = 0;
	int i;

	for (i = 0; i < GW_HIST_SLOTS; i++)
		total += slots[i];
	for (i = 0; i <= LAST_SLOT; i++) {
		cum += slots[i];
		if (i < FIRST_SLOT)
			continue;
		put(t, "%s_bucket", name);
		labels(t, s);
		put(t, ",le=\"");
		put_double(t, (double)(1ull << (i + 1)) / 1e9);
		put(t, "\"} %llu\n", (unsigned long long)cum);
	}
	put(t, "%s_bucket", name);
	labels(t, s);
	put(t, ",le=\"+Inf\"} %llu\n", (unsigned long long)total);
	put(t, "%s_sum", name);
	labels(t, s);
	put(t, "} ");
	put_double(t, sum_s);
	put(t, "\n%s_count", name);
	labels(t, s);
	put(t, "} %llu\n", (unsigned long long)total);
}

static double gil_wait_total_s(const struct proc_snapshot *snap)
{
	uint64_t ns = 0;
	size_t i;

	for (i = 0; i < snap->nrows; i++)
		ns += snap->rows[i].stats.gil_wait_ns;
	return ns / 1e9;
}

/* Exact with --deep, else the sampled share of the time watched. */
static double gil_held_total_s(const struct session *s)
{
	const struct proc_snapshot *snap = &s->snap;
	uint64_t ns = 0;
	size_t i;

	if (!s->opts.deep)
		return snap->gil_held_ns / 1e9;
	for (i = 0; i < snap->nrows; i++)
		ns += snap->rows[i].stats.gil_hold_ns;
	return ns / 1e9;
}

static void process_gil(struct metrics_text *t, struct session *const *ss, size_t n)
{
	size_t i;

	family(t, "gilwatch_gil_wait_seconds", "histogram",
	       "Waits for the GIL while another thread held it");
	for (i = 0; i < n; i++)
		histogram(t, "gilwatch_gil_wait_seconds", ss[i], ss[i]->snap.stats.gil_wait_hist,
			  gil_wait_total_s(&ss[i]->snap));
	family(t, "gilwatch_gil_held_seconds_total", "counter",
	       "Time a thread held the GIL (sampled 100/s; exact with --deep)");
	for (i = 0; i < n; i++)
		sample(t, "gilwatch_gil_held_seconds_total", ss[i], NULL, gil_held_total_s(ss[i]));
}

static void process_gc(struct metrics_text *t, struct session *const *ss, size_t n)
{
	char gen[32];
	size_t i;
	int g;

	family(t, "gilwatch_gc_collections_total", "counter",
	       "Garbage collections by oldest generation collected");
	for (i = 0; i < n; i++) {
		for (g = 0; g < GW_GC_GENERATIONS; g++) {
			snprintf(gen, sizeof(gen), ",generation=\"%d\"", g);
			sample(t, "gilwatch_gc_collections_total", ss[i], gen,
			       ss[i]->snap.stats.gc_count[g]);
		}
	}
	family(t, "gilwatch_gc_pause_seconds", "histogram", "Garbage collection pauses");
	for (i = 0; i < n; i++) {
		uint64_t ns = 0;

		for (g = 0; g < GW_GC_GENERATIONS; g++)
			ns += ss[i]->snap.stats.gc_total_ns[g];
		histogram(t, "gilwatch_gc_pause_seconds", ss[i], ss[i]->snap.stats.gc_hist,
			  ns / 1e9);
	}
}

static void process_frames(struct metrics_text *t, struct session *const *ss, size_t n)
{
	static const char *const api[GW_FRAMES_APIS] = {",api=\"current_frames\"",
							",api=\"current_exceptions\""};
	size_t i;
	int a;

	family(t, "gilwatch_frame_collection_calls_total", "counter",
	       "sys._current_frames()/_current_exceptions() calls (they hold HEAD_LOCK)");
	for (i = 0; i < n; i++)
		for (a = 0; a < GW_FRAMES_APIS; a++)
			sample(t, "gilwatch_frame_collection_calls_total", ss[i], api[a],
			       ss[i]->snap.stats.frames_calls[a]);
	family(t, "gilwatch_frame_collection_seconds_total", "counter",
	       "Time spent inside those calls, holding HEAD_LOCK");
	for (i = 0; i < n; i++)
		for (a = 0; a < GW_FRAMES_APIS; a++)
			sample(t, "gilwatch_frame_collection_seconds_total", ss[i], api[a],
			       ss[i]->snap.stats.frames_total_ns[a] / 1e9);
}

static void process_verdicts(struct metrics_text *t, struct session *const *ss, size_t n)
{
	size_t i;

	family(t, "gilwatch_hazards_total", "counter", "Hazards seen, by rule (docs/verdicts.md)");
	for (i = 0; i < n; i++) {
		sample(t, "gilwatch_hazards_total", ss[i], ",rule=\"gc-in-frame-collection\"",
		       ss[i]->snap.stats.hazards_gc_in_frames);
		sample(t, "gilwatch_hazards_total", ss[i], ",rule=\"fork-with-threads\"",
		       ss[i]->snap.fork_hazards);
	}
	family(t, "gilwatch_lock_order_inversions_total", "counter",
	       "Cycles in the lock-order graph (--deep)");
	for (i = 0; i < n; i++)
		sample(t, "gilwatch_lock_order_inversions_total", ss[i], NULL,
		       ss[i]->snap.lock_order_cycles);
	family(t, "gilwatch_deadlocks_total", "counter", "Confirmed deadlocks (wait-for cycles)");
	for (i = 0; i < n; i++)
		sample(t, "gilwatch_deadlocks_total", ss[i], NULL, ss[i]->snap.deadlocks);
	family(t, "gilwatch_stalls_total", "counter", "Stall episodes reported");
	for (i = 0; i < n; i++)
		sample(t, "gilwatch_stalls_total", ss[i], NULL, ss[i]->snap.stalls);
	family(t, "gilwatch_stalled", "gauge",
	       "1 while the process is stalled or deadlocked (no progress), else 0");
	for (i = 0; i < n; i++)
		sample(t, "gilwatch_stalled", ss[i], NULL,
		       ss[i]->stall.reported != STALL_NONE || ss[i]->detector.deadlocks);
	family(t, "gilwatch_crashes_total", "counter", "Fatal signals delivered");
	for (i = 0; i < n; i++)
		sample(t, "gilwatch_crashes_total", ss[i], NULL, ss[i]->snap.stats.crashes);
	family(t, "gilwatch_threads", "gauge", "Threads of the process");
	for (i = 0; i < n; i++)
		sample(t, "gilwatch_threads", ss[i], NULL, ss[i]->nviews);
}

/* gilwatch_probe_attached{probe,method}: how many watched processes have it,
 * by method ("unavailable" when a build lacks it).
 */
static void self_probes(struct metrics_text *t, struct session *const *ss, size_t n)
{
	struct {
		const char *method;
		unsigned count;
	} by[8];
	size_t i, m, nby;
	enum gw_feature f;
	int p;

	family(t, "gilwatch_probe_attached", "gauge",
	       "Watched processes with this probe attached, by how it was found");
	for (p = 0; p < PY_PROBE_COUNT; p++) {
		for (i = 0, nby = 0; i < n; i++) {
			const char *got = ss[i]->attachment.found.method[p];

			if (python_probes[p].deep && !ss[i]->opts.deep)
				continue;
			got = got ? got : "unavailable";
			for (m = 0; m < nby && strcmp(by[m].method, got); m++)
				;
			if (m == nby && nby < sizeof(by) / sizeof(by[0]))
				by[nby++] = (typeof(by[0])){got, 0};
			if (m < nby)
				by[m].count++;
		}
		for (m = 0; m < nby; m++)
			put(t, "gilwatch_probe_attached{probe=\"%s\",method=\"%s\"} %u\n",
			    python_probes[p].name, by[m].method, by[m].count);
	}
	/* The kernel's features are the same for every process. */
	for (f = 0; f < GW_FEATURE_COUNT; f++) {
		for (i = 0, nby = 0; i < n; i++)
			nby += bpf_features__reported(f, ss[i]->opts.deep);
		if (nby)
			put(t, "gilwatch_probe_attached{probe=\"%s\",method=\"%s\"} %zu\n",
			    gw_features[f].name,
			    bpf_features__unavailable(f) ? "unavailable" : gw_features[f].method,
			    nby);
	}
}

static void self_metrics(struct metrics_text *t, struct session *const *ss, size_t n,
			 const struct agent_self *self)
{
	uint64_t full = 0;
	size_t i;

	family(t, "gilwatch_build_info", "gauge", "gilwatch's version");
	put(t, "gilwatch_build_info{version=\"%s\"} 1\n", GW_VERSION);
	family(t, "gilwatch_processes_watched", "gauge", "CPython processes watched now");
	put(t, "gilwatch_processes_watched %zu\n", n);
	family(t, "gilwatch_attach_failures_total", "counter",
	       "CPython processes that could not be watched");
	put(t, "gilwatch_attach_failures_total %llu\n", (unsigned long long)self->attach_failures);
	family(t, "gilwatch_binaries_probed", "gauge",
	       "Distinct CPython binaries probed: one probe set serves all processes of one");
	put(t, "gilwatch_binaries_probed %zu\n", self->binaries_probed);
	self_probes(t, ss, n);
	family(t, "gilwatch_events_dropped_total", "counter",
	       "Ring buffer records lost because user space fell behind");
	put(t, "gilwatch_events_dropped_total %llu\n", (unsigned long long)self->events_dropped);
	for (i = 0; i < n; i++)
		full += ss[i]->snap.dropped_thread_updates;
	family(t, "gilwatch_map_full_total", "counter",
	       "Thread updates lost because the per-thread tables were full");
	put(t, "gilwatch_map_full_total %llu\n", (unsigned long long)full);
	family(t, "gilwatch_scrape_duration_seconds", "gauge",
	       "Time the last rendering of these metrics took");
	put(t, "gilwatch_scrape_duration_seconds ");
	put_double(t, self->last_render_s);
	put(t, "\n");
}

void metrics__render(struct metrics_text *t, struct session *const *sessions, size_t n,
		     const struct agent_self *self)
{
	t->len = 0;
	t->failed = 0;
	if (t->buf)
		t->buf[0] = '\0';
	process_gil(t, sessions, n);
	process_gc(t, sessions, n);
	process_frames(t, sessions, n);
	process_verdicts(t, sessions, n);
	self_metrics(t, sessions, n, self);
}

void metrics_text__free(struct metrics_text *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}
