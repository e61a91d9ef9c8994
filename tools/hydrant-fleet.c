/* hydrant-fleet.c -- a telematics fleet simulator on libhydrant.
 *
 * Purpose: the lesson's vehicles. N vehicles with valid 17-character VINs
 * drive along roads of Jakarta (the lesson's coordinates) and their OBD2
 * readers put one record per reading into a Firehose stream, in the
 * lesson's format: space-separated fields and '\n' at the end,
 *
 *   record_id timestamp vin lon lat speed
 *   1 2026-11-25T08:00:00.000Z MHFAB8EM0P0123456 106.823000 -6.195000 42.5
 *
 * (timestamp: capture time, UTC, ISO 8601; lon/lat: degrees; speed: km/h).
 * Usage: hydrant-fleet --help.
 *
 * Design:
 * - VINs: ISO 3779 layout -- WMI (3), VDS (5), check digit (position 9,
 *   the North American / ISO 3779 weighted mod-11 rule: letters
 *   transliterated, weights 8 7 6 5 4 3 2 10 0 9 8 7 6 5 4 3 2, remainder
 *   10 written 'X'), model year (position 10), plant (11), serial (12-17).
 *   I, O and Q never appear. --check-vin exposes the rule for tests.
 * - Routes are polylines through real places (toll roads and avenues);
 *   each vehicle drives one back and forth. Speed is a bounded random walk
 *   towards a target for the road type, with acceleration limits and
 *   traffic stops; position advances by speed x elapsed time along the
 *   polyline, so consecutive records agree with the reported speed.
 * - Records are put at --rate per second in total, round robin over the
 *   vehicles, in real time; with --output - they are printed instead,
 *   with simulated time and no waiting (for tests and pandas).
 * - --speedup K (for demos) runs the vehicles' clock K times faster than
 *   the wall clock, ending at "now": a 30 s run with K=20 covers the last
 *   10 minutes of driving, as if the devices had been uploading a backlog.
 *   Capture timestamps and positions stay consistent with that clock.
 * - A progress line on stderr (rewritten in place on a terminal): records
 *   sent, acknowledged, retried, spooled, queued.
 *
 * Threading: single-threaded; libhydrant sends on its own thread.
 */
#include "hydrant.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_VEHICLES 100000
#define RECORD_MAX 160

/* ---- VINs --------------------------------------------------------------- */

static const char VIN_CHARS[] = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"; /* no I O Q */
static const int VIN_WEIGHTS[17] = {8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2};

/* ISO 3779 transliteration of one VIN character; -1 if not allowed */
static int vin_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    static const char letters[] = "ABCDEFGHJKLMNPRSTUVWXYZ";
    static const int values[] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9};
    const char *at = c ? strchr(letters, c) : NULL;
    return at ? values[at - letters] : -1;
}

/* The check digit a 17-character VIN should carry at position 9, or 0
 * when the VIN has a wrong length or a character outside the alphabet. */
static char vin_check_digit(const char *vin)
{
    int sum = 0;
    if (strlen(vin) != 17)
        return 0;
    for (int i = 0; i < 17; i++) {
        int v = vin_value(vin[i]);
        if (v < 0)
            return 0;
        sum += v * VIN_WEIGHTS[i];
    }
    int r = sum % 11;
    return r == 10 ? 'X' : (char)('0' + r);
}

static bool vin_valid(const char *vin)
{
    char c = vin_check_digit(vin);
    return c && vin[8] == c;
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) / (double)(1ull << 53);
}

static void vin_make(char out[18])
{
    /* WMIs of makers sold in Indonesia and elsewhere: Toyota Indonesia,
     * Honda, Tesla, VW, Ford, Hyundai, Mitsubishi, Daihatsu Indonesia */
    static const char *const wmi[] = {"MHF", "MR0", "JHM", "1HG", "5YJ", "WVW",
                                      "1FT", "KMH", "MMB", "MHK", "JTD", "3VW"};
    static const char years[] = "LMNPRST"; /* 2020 .. 2026 */
    memcpy(out, wmi[rnd() % (sizeof wmi / sizeof *wmi)], 3);
    for (int i = 3; i < 8; i++)
        out[i] = VIN_CHARS[rnd() % (sizeof VIN_CHARS - 1)];
    out[9] = years[rnd() % (sizeof years - 1)];
    out[10] = VIN_CHARS[10 + rnd() % (sizeof VIN_CHARS - 11)];
    for (int i = 11; i < 17; i++)
        out[i] = (char)('0' + rnd() % 10);
    out[8] = '0';
    out[17] = '\0';
    out[8] = vin_check_digit(out);
}

/* ---- routes ------------------------------------------------------------- */

struct point {
    double lon, lat;
};

struct route {
    const char *name;
    double cruise_kmh; /* typical free-flow speed */
    int n;
    struct point pts[10];
};

static const struct route ROUTES[] = {
    {"Sudirman-Thamrin", 45, 8,
     {{106.7990, -6.2440}, {106.8020, -6.2250}, {106.8130, -6.2190}, {106.8230, -6.2010},
      {106.8230, -6.1950}, {106.8270, -6.1760}, {106.8200, -6.1660}, {106.8130, -6.1370}}},
    {"Inner ring toll", 70, 7,
     {{106.8740, -6.2430}, {106.8310, -6.2310}, {106.8130, -6.2190}, {106.7980, -6.1980},
      {106.7950, -6.1760}, {106.7900, -6.1650}, {106.7900, -6.1270}}},
    {"Jagorawi toll", 85, 5,
     {{106.8740, -6.2430}, {106.8720, -6.2600}, {106.8820, -6.3020}, {106.8950, -6.3650},
      {106.8750, -6.3900}}},
    {"Jakarta-Tangerang toll", 80, 6,
     {{106.7950, -6.1760}, {106.7700, -6.1900}, {106.7400, -6.1900}, {106.6900, -6.2050},
      {106.6200, -6.2200}, {106.6300, -6.1800}}},
    {"Airport toll", 85, 4,
     {{106.7900, -6.1270}, {106.7450, -6.1150}, {106.7000, -6.1150}, {106.6560, -6.1250}}},
    {"Jakarta-Cikampek toll", 80, 5,
     {{106.8740, -6.2430}, {106.8850, -6.2500}, {106.9500, -6.2550}, {106.9900, -6.2480},
      {107.0200, -6.2500}}},
    {"Gatot Subroto", 40, 5,
     {{106.8130, -6.2190}, {106.8230, -6.2290}, {106.8310, -6.2310}, {106.8450, -6.2400},
      {106.8600, -6.2420}}},
};
#define NROUTES (sizeof ROUTES / sizeof *ROUTES)

/* metres between two points (equirectangular; fine at city scale) */
static double dist_m(struct point a, struct point b)
{
    double lat = (a.lat + b.lat) / 2 * M_PI / 180;
    double dx = (b.lon - a.lon) * 111320.0 * cos(lat);
    double dy = (b.lat - a.lat) * 110574.0;
    return sqrt(dx * dx + dy * dy);
}

struct vehicle {
    char vin[18];
    const struct route *route;
    int seg;       /* from pts[seg] towards pts[seg + dir] */
    int dir;       /* +1 or -1 */
    double along;  /* metres from pts[seg] */
    double speed;  /* km/h */
    double target; /* km/h the driver aims for */
    double temper; /* this driver's share of the road's cruise speed */
    double stop_s; /* seconds left standing in traffic */
    struct point pos;
};

static void vehicle_init(struct vehicle *v)
{
    vin_make(v->vin);
    v->route = &ROUTES[rnd() % NROUTES];
    v->dir = rnd() % 2 ? 1 : -1;
    v->seg = v->dir > 0 ? (int)(rnd() % (unsigned)(v->route->n - 1))
                        : 1 + (int)(rnd() % (unsigned)(v->route->n - 1));
    struct point a = v->route->pts[v->seg], b = v->route->pts[v->seg + v->dir];
    v->along = rnd_unit() * dist_m(a, b);
    v->temper = 0.8 + 0.35 * rnd_unit();
    v->speed = v->route->cruise_kmh * v->temper * (0.5 + 0.5 * rnd_unit());
    v->target = v->route->cruise_kmh * v->temper;
    v->pos = a;
}

/* Advances a vehicle by dt seconds: speed first, then position. */
static void vehicle_step(struct vehicle *v, double dt)
{
    double cruise = v->route->cruise_kmh * v->temper;
    if (v->stop_s > 0) {
        v->stop_s -= dt;
        v->target = 0;
    } else if (rnd_unit() < 0.015 * dt) {
        v->stop_s = 5 + 40 * rnd_unit(); /* a jam or a light */
    } else if (rnd_unit() < 0.2 * dt) {
        v->target = cruise * (0.4 + 0.75 * rnd_unit()); /* traffic ahead, or a gap */
    }
    if (v->stop_s <= 0 && v->target < 1)
        v->target = cruise;
    /* about 2.5 m/s^2 either way, plus a little noise */
    double max_dv = 9.0 * dt;
    double dv = v->target - v->speed;
    if (dv > max_dv)
        dv = max_dv;
    if (dv < -max_dv)
        dv = -max_dv;
    v->speed += dv + (v->speed > 5 ? (rnd_unit() - 0.5) * 2.0 * dt : 0);
    if (v->speed < 0)
        v->speed = 0;
    if (v->speed > 120)
        v->speed = 120;

    double left = v->speed / 3.6 * dt; /* metres to cover */
    for (int guard = 0; guard < 64; guard++) {
        struct point a = v->route->pts[v->seg], b = v->route->pts[v->seg + v->dir];
        double len = dist_m(a, b);
        if (v->along + left <= len) {
            v->along += left;
            break;
        }
        left -= len - v->along;
        v->along = 0;
        v->seg += v->dir;
        if (v->seg + v->dir < 0 || v->seg + v->dir >= v->route->n)
            v->dir = -v->dir; /* end of the road: turn around */
    }
    struct point a = v->route->pts[v->seg], b = v->route->pts[v->seg + v->dir];
    double len = dist_m(a, b), f = len > 0 ? v->along / len : 0;
    v->pos.lon = a.lon + (b.lon - a.lon) * f;
    v->pos.lat = a.lat + (b.lat - a.lat) * f;
}

static int format_record(char *out, size_t cap, uint64_t id, double t, const struct vehicle *v)
{
    time_t sec = (time_t)t;
    struct tm tm;
    char stamp[32];
    gmtime_r(&sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    return snprintf(out, cap, "%llu %s.%03dZ %s %.6f %.6f %.1f\n", (unsigned long long)id, stamp,
                    (int)((t - (double)sec) * 1000), v->vin, v->pos.lon, v->pos.lat, v->speed);
}

/* ---- the program -------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    stop_requested = 1;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress(hydrant_producer *p, uint64_t made, bool final, bool tty)
{
    struct hydrant_stats st;
    hydrant_stats(p, &st);
    fprintf(stderr, "%sfleet: records %llu  sent %llu  acked %llu  retried %llu  spooled %llu  queued %llu%s",
            tty ? "\r" : "", (unsigned long long)made, (unsigned long long)st.sent,
            (unsigned long long)st.acked, (unsigned long long)st.retried,
            (unsigned long long)st.spooled, (unsigned long long)st.queued,
            tty && !final ? "   " : "\n");
    if (final && st.dropped)
        fprintf(stderr, "fleet: %llu records rejected by the service\n",
                (unsigned long long)st.dropped);
    if (final && st.last_error[0])
        fprintf(stderr, "fleet: last error: %s\n", st.last_error);
    fflush(stderr);
}

static void usage(FILE *f)
{
    fputs("Usage: hydrant-fleet [options]\n"
          "Simulates vehicles whose OBD2 readers put telematics records into a Firehose\n"
          "stream: \"record_id timestamp vin lon lat speed\\n\".\n\n"
          "  --endpoint URL       Firehose endpoint (default http://127.0.0.1:4566)\n"
          "  --region NAME        SigV4 region (default us-east-1)\n"
          "  --stream NAME        delivery stream (default gps-delivery-stream)\n"
          "  --vehicles N         vehicles (default 10)\n"
          "  --rate R             records per second, all vehicles together (default 20)\n"
          "  --seconds S          how long to drive (default 30)\n"
          "  --count N            stop after N records (default: no limit)\n"
          "  --start-id N         first record id (default 1)\n"
          "  --seed N             random seed (default: from the clock)\n"
          "  --speedup K          vehicles' clock runs K times faster, ending now (default 1)\n"
          "  --spool DIR          store-and-forward spool directory\n"
          "  --linger-ms N        batching linger (default 200)\n"
          "  --flush-timeout-ms N wait for acknowledgements at the end (default 30000)\n"
          "  --output -           print the records instead of sending (simulated time)\n"
          "  --check-vin VIN      print the VIN's expected check digit; exit 0 if valid\n"
          "  --quiet              no progress line\n"
          "Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,\n"
          "default test/test.\n",
          f);
}

int main(int argc, char **argv)
{
    const char *endpoint = "http://127.0.0.1:4566", *region = "us-east-1";
    const char *stream = "gps-delivery-stream", *spool = NULL, *output = NULL;
    long vehicles = 10, linger = 200, flush_timeout = 30000;
    double rate = 20, seconds = 30, speedup = 1;
    unsigned long long count = 0, start_id = 1, seed = 0;
    bool quiet = false;
    enum { O_ENDPOINT = 1, O_REGION, O_STREAM, O_VEHICLES, O_RATE, O_SECONDS, O_COUNT, O_START,
           O_SEED, O_SPOOL, O_LINGER, O_FLUSH, O_OUTPUT, O_CHECK, O_QUIET, O_HELP, O_SPEEDUP };
    static const struct option opts[] = {
        {"endpoint", required_argument, 0, O_ENDPOINT}, {"region", required_argument, 0, O_REGION},
        {"stream", required_argument, 0, O_STREAM},     {"vehicles", required_argument, 0, O_VEHICLES},
        {"rate", required_argument, 0, O_RATE},         {"seconds", required_argument, 0, O_SECONDS},
        {"count", required_argument, 0, O_COUNT},       {"start-id", required_argument, 0, O_START},
        {"seed", required_argument, 0, O_SEED},         {"spool", required_argument, 0, O_SPOOL},
        {"linger-ms", required_argument, 0, O_LINGER},  {"flush-timeout-ms", required_argument, 0, O_FLUSH},
        {"output", required_argument, 0, O_OUTPUT},     {"check-vin", required_argument, 0, O_CHECK},
        {"quiet", no_argument, 0, O_QUIET},             {"help", no_argument, 0, O_HELP},
        {"speedup", required_argument, 0, O_SPEEDUP},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_ENDPOINT: endpoint = optarg; break;
        case O_REGION: region = optarg; break;
        case O_STREAM: stream = optarg; break;
        case O_VEHICLES: vehicles = strtol(optarg, NULL, 10); break;
        case O_RATE: rate = strtod(optarg, NULL); break;
        case O_SECONDS: seconds = strtod(optarg, NULL); break;
        case O_COUNT: count = strtoull(optarg, NULL, 10); break;
        case O_START: start_id = strtoull(optarg, NULL, 10); break;
        case O_SEED: seed = strtoull(optarg, NULL, 10); break;
        case O_SPOOL: spool = optarg; break;
        case O_LINGER: linger = strtol(optarg, NULL, 10); break;
        case O_FLUSH: flush_timeout = strtol(optarg, NULL, 10); break;
        case O_OUTPUT: output = optarg; break;
        case O_CHECK: {
            char want = vin_check_digit(optarg);
            printf("%c\n", want ? want : '?');
            return want && vin_valid(optarg) ? 0 : 1;
        }
        case O_QUIET: quiet = true; break;
        case O_SPEEDUP: speedup = strtod(optarg, NULL); break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || vehicles < 1 || vehicles > MAX_VEHICLES || !(rate > 0) ||
        !(seconds >= 0) || !(speedup >= 1) || speedup > 3600 || linger < 0 || flush_timeout < 0 || (output && strcmp(output, "-"))) {
        usage(stderr);
        return 2;
    }
    rng_state = seed ? seed * 0x9E3779B97F4A7C15ull : (uint64_t)time(NULL) * 2654435761ull ^ (uint64_t)getpid();
    if (!rng_state)
        rng_state = 1;

    struct vehicle *fleet = calloc((size_t)vehicles, sizeof *fleet);
    if (!fleet) {
        fprintf(stderr, "fleet: out of memory\n");
        return 1;
    }
    for (long i = 0; i < vehicles; i++) {
        vehicle_init(&fleet[i]);
        vehicle_step(&fleet[i], 0.0);
    }

    double interval = 1.0 / rate, per_vehicle_dt = (double)vehicles / rate * speedup;
    double span = count ? (double)count / rate : seconds; /* wall seconds of the run */
    double sim_start = wall_now() - (speedup - 1) * span; /* the clock ends at "now" */
    char rec[RECORD_MAX];
    uint64_t made = 0;

    if (output) {
        /* simulated time, no network: as fast as stdout takes it */
        double t = sim_start;
        uint64_t limit = count ? count : (uint64_t)(seconds * rate);
        for (uint64_t k = 0; k < limit; k++) {
            struct vehicle *v = &fleet[k % (uint64_t)vehicles];
            if (k >= (uint64_t)vehicles)
                vehicle_step(v, per_vehicle_dt);
            int n = format_record(rec, sizeof rec, start_id + k, t + k * interval * speedup, v);
            fwrite(rec, 1, (size_t)n, stdout);
        }
        free(fleet);
        return fflush(stdout) == 0 ? 0 : 1;
    }

    struct hydrant_config cfg;
    hydrant_config_init(&cfg);
    cfg.endpoint = endpoint;
    cfg.region = region;
    cfg.access_key_id = getenv("AWS_ACCESS_KEY_ID") ? getenv("AWS_ACCESS_KEY_ID") : "test";
    cfg.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY") ? getenv("AWS_SECRET_ACCESS_KEY") : "test";
    cfg.session_token = getenv("AWS_SESSION_TOKEN");
    cfg.spool_dir = spool;
    cfg.linger_ms = (unsigned)linger;
    hydrant_producer *p;
    int rc = hydrant_producer_new(&cfg, &p);
    if (rc) {
        fprintf(stderr, "fleet: %s\n", hydrant_strerror(rc));
        free(fleet);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    bool tty = isatty(2) && !quiet;
    double start = mono_now(), next_progress = start + 1;
    uint64_t refused = 0;
    for (uint64_t k = 0; !stop_requested && (!count || k < count); k++) {
        double due = start + k * interval, now = mono_now();
        if (!count && due - start >= seconds)
            break;
        if (due > now) {
            struct timespec ts = {(time_t)(due - now), (long)(fmod(due - now, 1.0) * 1e9)};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_requested) {
            }
        }
        struct vehicle *v = &fleet[k % (uint64_t)vehicles];
        if (k >= (uint64_t)vehicles)
            vehicle_step(v, per_vehicle_dt);
        double captured = speedup > 1 ? sim_start + k * interval * speedup : wall_now();
        int n = format_record(rec, sizeof rec, start_id + k, captured, v);
        rc = hydrant_put(p, stream, rec, (size_t)n);
        if (rc) {
            refused++; /* a device keeps reading its sensors: count and go on */
            if (refused == 1)
                fprintf(stderr, "\nfleet: put: %s\n", hydrant_strerror(rc));
        }
        made++;
        if (!quiet && mono_now() >= next_progress) {
            if (tty || (uint64_t)(next_progress - start) % 5 == 0)
                progress(p, made, false, tty);
            next_progress += 1;
        }
    }
    rc = hydrant_flush(p, (unsigned)flush_timeout, NULL);
    if (!quiet)
        progress(p, made, true, tty);
    struct hydrant_stats st;
    hydrant_stats(p, &st);
    int close_rc = hydrant_close(p, 0, NULL);
    free(fleet);
    if (refused)
        fprintf(stderr, "fleet: %llu records refused by the library\n", (unsigned long long)refused);
    if (rc || close_rc) {
        fprintf(stderr, "fleet: not all records acknowledged: %s\n",
                hydrant_strerror(rc ? rc : close_rc));
        return 3;
    }
    return refused || st.dropped ? 3 : 0;
}
