/* metric_read.c - the registry's Prometheus text read back as OTLP metrics (see metric_read.h).
 *
 * The text is the registry's own rendering, so its shape is known: # HELP before # TYPE, then a family's
 * series in label order, a histogram's as its _bucket lines (cumulative, le last among the labels, +Inf
 * last), _sum and _count. Lines of any other shape are skipped rather than trusted. */
#include "telemetry/metric_read.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"

/* Most labels one series carries (the registry caps label text at 1 KB, so this is generous). */
#define MAX_LABELS 32

/* The OpenTelemetry GenAI semantic conventions (v1.37.0) for the metrics llmgw records under them: the
 * Prometheus name is what a Prometheus exporter makes of the OTel name and unit, and this goes back. */
static const struct {
    const char *prom, *otel, *unit;
} names[] = {
    {"gen_ai_client_token_usage", "gen_ai.client.token.usage", "{token}"},
    {"gen_ai_client_operation_duration_seconds", "gen_ai.client.operation.duration", "s"},
};

static const struct {
    const char *prom, *otel;
} keys[] = {
    {"gen_ai_operation_name", "gen_ai.operation.name"}, {"gen_ai_provider_name", "gen_ai.provider.name"},
    {"gen_ai_request_model", "gen_ai.request.model"},   {"gen_ai_response_model", "gen_ai.response.model"},
    {"gen_ai_token_type", "gen_ai.token.type"},         {"error_type", "error.type"},
    {"server_address", "server.address"},               {"server_port", "server.port"},
};

struct fam {
    struct lgw_otlp_metric mt;
    char *prom; /* the Prometheus family name */
    enum lgw_metric_type type;
    double bounds[LGW_METRIC_READ_MAX_BOUNDS];
    struct lgw_otlp_point *pts;
    size_t cap;
    uint64_t *cum;  /* histogram buckets as read (cumulative), LGW_METRIC_READ_MAX_BOUNDS + 1 per point */
    size_t *nbuckets; /* per point: buckets read */
};

struct reader {
    struct lgw_metric_read *r;
    int64_t start_ns;
    struct fam *fams;
    size_t nfams;
    char *help; /* the last # HELP, for the # TYPE that follows */
    char *help_for;
};

static void *keep(struct lgw_metric_read *r, void *p)
{
    r->allocs = lgw_realloc(r->allocs, (r->nallocs + 1) * sizeof(*r->allocs));
    r->allocs[r->nallocs++] = p;
    return p;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* The OTel name and unit of a Prometheus family (see metric_read.h). */
static void otel_name(struct reader *rd, struct fam *f)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(f->prom, names[i].prom) == 0) {
            f->mt.name = names[i].otel;
            f->mt.unit = names[i].unit;
            return;
        }
    size_t len = strlen(f->prom);
    /* OTel names carry no _total (a Sum is a counter already); a Prometheus exporter adds it back. */
    if (f->type == LGW_METRIC_COUNTER && ends_with(f->prom, len, "_total"))
        len -= 6;
    f->mt.name = keep(rd->r, lgw_strndup(f->prom, len));
    f->mt.unit = ends_with(f->prom, len, "_seconds") ? "s" : ends_with(f->prom, len, "_ratio") ? "1"
               : ends_with(f->prom, len, "_bytes")   ? "By"
                                                     : "";
}

static const char *otel_key(struct lgw_metric_read *r, const char *k, size_t len)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strlen(keys[i].prom) == len && memcmp(keys[i].prom, k, len) == 0)
            return keys[i].otel;
    return keep(r, lgw_strndup(k, len));
}

static struct fam *fam_new(struct reader *rd, const char *name, size_t len, enum lgw_metric_type type)
{
    if (rd->nfams == LGW_METRIC_READ_MAX_FAMILIES)
        return NULL;
    rd->fams = lgw_realloc(rd->fams, (rd->nfams + 1) * sizeof(*rd->fams));
    struct fam *f = &rd->fams[rd->nfams++];
    memset(f, 0, sizeof(*f));
    f->prom = keep(rd->r, lgw_strndup(name, len));
    f->type = type;
    f->mt.kind = type == LGW_METRIC_COUNTER ? LGW_OTLP_SUM : type == LGW_METRIC_GAUGE ? LGW_OTLP_GAUGE : LGW_OTLP_HISTOGRAM;
    f->mt.description = "";
    if (rd->help && rd->help_for && strcmp(rd->help_for, f->prom) == 0)
        f->mt.description = keep(rd->r, lgw_strdup(rd->help));
    otel_name(rd, f);
    return f;
}

static struct lgw_otlp_point *point_new(struct reader *rd, struct fam *f, struct lgw_otlp_kv *attrs, size_t nattrs)
{
    if (f->mt.npoints == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->pts = lgw_realloc(f->pts, f->cap * sizeof(*f->pts));
        if (f->type == LGW_METRIC_HISTOGRAM) {
            f->cum = lgw_realloc(f->cum, f->cap * (LGW_METRIC_READ_MAX_BOUNDS + 1) * sizeof(*f->cum));
            f->nbuckets = lgw_realloc(f->nbuckets, f->cap * sizeof(*f->nbuckets));
        }
    }
    size_t i = f->mt.npoints++;
    struct lgw_otlp_point *p = &f->pts[i];
    memset(p, 0, sizeof(*p));
    p->attrs = keep(rd->r, lgw_malloc((nattrs ? nattrs : 1) * sizeof(*attrs)));
    memcpy((void *)p->attrs, attrs, nattrs * sizeof(*attrs));
    p->nattrs = nattrs;
    p->start_ns = rd->start_ns;
    if (f->type == LGW_METRIC_HISTOGRAM)
        f->nbuckets[i] = 0;
    rd->r->npoints++;
    return p;
}

static bool same_attrs(const struct lgw_otlp_point *p, const struct lgw_otlp_kv *attrs, size_t n)
{
    if (p->nattrs != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(p->attrs[i].key, attrs[i].key) || strcmp(p->attrs[i].value, attrs[i].value))
            return false;
    return true;
}

/* Parses `{k="v",...}` at s (up to end) into attrs (values unescaped, kept in r); *le gets the le label's
 * value when there is one (not an attribute). Returns the position after `}`, or NULL when malformed. */
static const char *labels(struct reader *rd, const char *s, const char *end, struct lgw_otlp_kv *attrs, size_t *n,
                          const char **le)
{
    *n = 0;
    *le = NULL;
    if (s >= end || *s != '{')
        return s;
    s++;
    while (s < end && *s != '}') {
        const char *k = s;
        while (s < end && *s != '=')
            s++;
        if (s + 1 >= end || s[1] != '"')
            return NULL;
        size_t klen = (size_t)(s - k);
        s += 2;
        struct lgw_buf v;
        lgw_buf_init(&v, 0);
        while (s < end && *s != '"') {
            char c = *s++;
            if (c == '\\' && s < end) {
                c = *s++;
                if (c == 'n')
                    c = '\n';
            }
            lgw_buf_append(&v, &c, 1);
        }
        if (s >= end) {
            lgw_buf_cleanup(&v);
            return NULL;
        }
        s++; /* the closing quote */
        char *value = keep(rd->r, v.ptr ? v.ptr : lgw_strdup(""));
        if (klen == 2 && memcmp(k, "le", 2) == 0)
            *le = value;
        else if (*n < MAX_LABELS)
            attrs[(*n)++] = (struct lgw_otlp_kv){otel_key(rd->r, k, klen), value};
        if (s < end && *s == ',')
            s++;
    }
    return s < end ? s + 1 : NULL;
}

static bool integral(const char *s, size_t len)
{
    if (len && *s == '-')
        s++, len--;
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static void sample(struct reader *rd, const char *s, const char *end)
{
    const char *name = s;
    while (s < end && *s != '{' && *s != ' ')
        s++;
    size_t nlen = (size_t)(s - name);
    struct lgw_otlp_kv attrs[MAX_LABELS];
    size_t nattrs;
    const char *le;
    if (!(s = labels(rd, s, end, attrs, &nattrs, &le)))
        return;
    while (s < end && *s == ' ')
        s++;
    const char *vend = s;
    while (vend < end && *vend != ' ')
        vend++;
    char num[64];
    size_t vlen = (size_t)(vend - s);
    if (!vlen || vlen >= sizeof(num))
        return;
    memcpy(num, s, vlen);
    num[vlen] = '\0';
    double d = strtod(num, NULL);

    struct fam *f = rd->nfams ? &rd->fams[rd->nfams - 1] : NULL;
    size_t flen = f ? strlen(f->prom) : 0;
    if (f && f->type == LGW_METRIC_HISTOGRAM && nlen > flen && memcmp(name, f->prom, flen) == 0) {
        const char *suffix = name + flen;
        size_t slen = nlen - flen;
        struct lgw_otlp_point *p = f->mt.npoints ? &f->pts[f->mt.npoints - 1] : NULL;
        if (slen == 7 && memcmp(suffix, "_bucket", 7) == 0 && le) {
            if (!p || !same_attrs(p, attrs, nattrs) || f->nbuckets[f->mt.npoints - 1] > f->mt.nbounds)
                p = point_new(rd, f, attrs, nattrs);
            size_t i = (size_t)(p - f->pts), b = f->nbuckets[i];
            if (b > LGW_METRIC_READ_MAX_BOUNDS)
                return;
            if (strcmp(le, "+Inf") != 0) {
                if (i == 0 && b == f->mt.nbounds && b < LGW_METRIC_READ_MAX_BOUNDS)
                    f->bounds[f->mt.nbounds++] = strtod(le, NULL); /* the first series gives the bounds */
            }
            f->cum[i * (LGW_METRIC_READ_MAX_BOUNDS + 1) + b] = (uint64_t)d;
            f->nbuckets[i] = b + 1;
        } else if ((slen == 4 && memcmp(suffix, "_sum", 4) == 0) || (slen == 6 && memcmp(suffix, "_count", 6) == 0)) {
            for (size_t i = f->mt.npoints; i-- > 0;)
                if (same_attrs(&f->pts[i], attrs, nattrs)) {
                    if (slen == 4)
                        f->pts[i].sum = d;
                    else
                        f->pts[i].count = (uint64_t)d;
                    break;
                }
        }
        return;
    }
    if (!f || f->type == LGW_METRIC_HISTOGRAM || nlen != flen || memcmp(name, f->prom, flen) != 0)
        f = fam_new(rd, name, nlen, LGW_METRIC_GAUGE); /* a sample without its # TYPE: untyped, read as a gauge */
    if (!f)
        return;
    struct lgw_otlp_point *p = point_new(rd, f, attrs, nattrs);
    long long i;
    if (integral(num, vlen) && lgw_parse_int64(num, vlen, &i) == 0) {
        p->is_int = true;
        p->i = i;
    }
    p->d = d;
}

static void directive(struct reader *rd, const char *s, const char *end)
{
    bool help = (size_t)(end - s) > 7 && memcmp(s, "# HELP ", 7) == 0;
    bool type = (size_t)(end - s) > 7 && memcmp(s, "# TYPE ", 7) == 0;
    if (!help && !type)
        return;
    s += 7;
    const char *name = s;
    while (s < end && *s != ' ')
        s++;
    size_t nlen = (size_t)(s - name);
    if (s < end)
        s++;
    if (help) {
        struct lgw_buf h;
        lgw_buf_init(&h, 0);
        for (; s < end; s++) {
            char c = *s;
            if (c == '\\' && s + 1 < end) {
                c = *++s;
                if (c == 'n')
                    c = '\n';
            }
            lgw_buf_append(&h, &c, 1);
        }
        free(rd->help);
        free(rd->help_for);
        rd->help = h.ptr ? h.ptr : lgw_strdup("");
        rd->help_for = lgw_strndup(name, nlen);
        return;
    }
    size_t tlen = (size_t)(end - s);
    enum lgw_metric_type t = LGW_METRIC_GAUGE;
    if (tlen == 7 && memcmp(s, "counter", 7) == 0)
        t = LGW_METRIC_COUNTER;
    else if (tlen == 9 && memcmp(s, "histogram", 9) == 0)
        t = LGW_METRIC_HISTOGRAM;
    fam_new(rd, name, nlen, t);
}

/* A histogram's cumulative buckets as OTLP's per-bucket counts; a series whose bucket count does not match
 * the family's bounds (not something the registry writes) is left out. */
static void finish_histogram(struct reader *rd, struct fam *f)
{
    size_t kept = 0, nb = f->mt.nbounds + 1;
    f->mt.bounds = keep(rd->r, lgw_malloc((f->mt.nbounds ? f->mt.nbounds : 1) * sizeof(double)));
    memcpy((double *)f->mt.bounds, f->bounds, f->mt.nbounds * sizeof(double));
    for (size_t i = 0; i < f->mt.npoints; i++) {
        if (f->nbuckets[i] != nb) {
            rd->r->npoints--;
            continue;
        }
        const uint64_t *cum = &f->cum[i * (LGW_METRIC_READ_MAX_BOUNDS + 1)];
        uint64_t *counts = keep(rd->r, lgw_malloc(nb * sizeof(*counts)));
        for (size_t k = 0; k < nb; k++)
            counts[k] = cum[k] - (k ? cum[k - 1] : 0);
        f->pts[kept] = f->pts[i];
        f->pts[kept++].counts = counts;
    }
    f->mt.npoints = kept;
}

int lgw_metric_read_text(const char *text, size_t len, int64_t start_ns, struct lgw_metric_read *out)
{
    memset(out, 0, sizeof(*out));
    struct reader rd = {.r = out, .start_ns = start_ns};
    const char *end = text + len;
    for (const char *s = text; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        if (e > s && *s == '#')
            directive(&rd, s, e);
        else if (e > s)
            sample(&rd, s, e);
        s = nl ? nl + 1 : end;
    }
    /* Families without series (a # TYPE alone) are not sent: OTLP has no use for an empty metric. */
    out->metrics = keep(out, lgw_calloc(rd.nfams ? rd.nfams : 1, sizeof(*out->metrics)));
    for (size_t i = 0; i < rd.nfams; i++) {
        struct fam *f = &rd.fams[i];
        if (f->type == LGW_METRIC_HISTOGRAM)
            finish_histogram(&rd, f);
        if (f->pts)
            keep(out, f->pts);
        free(f->cum);
        free(f->nbuckets);
        f->mt.points = f->pts;
        if (f->mt.npoints)
            out->metrics[out->nmetrics++] = f->mt;
    }
    free(rd.fams);
    free(rd.help);
    free(rd.help_for);
    return LGW_OK;
}

int lgw_metric_read(struct lgw_metrics *m, int64_t start_ns, struct lgw_metric_read *out)
{
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    int rc = lgw_metrics_render(m, &text);
    if (rc == 0)
        rc = lgw_metric_read_text(text.ptr ? text.ptr : "", text.len, start_ns, out);
    else
        memset(out, 0, sizeof(*out));
    lgw_buf_cleanup(&text);
    return rc;
}

void lgw_metric_read_cleanup(struct lgw_metric_read *r)
{
    for (size_t i = 0; i < r->nallocs; i++)
        free(r->allocs[i]);
    free(r->allocs);
    memset(r, 0, sizeof(*r));
}
