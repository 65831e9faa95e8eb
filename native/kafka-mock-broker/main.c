/*
 * kafka-mock-broker: a Kafka-protocol cluster for tests and the demo, built on
 * librdkafka's mock cluster (librdkafka/rdkafka_mock.h, Debian librdkafka-dev).
 *
 * Usage: kafka-mock-broker [--brokers N] [--topic name:partitions]...
 *
 * Prints exactly one line `READY host:port,host:port,...` on stdout once the
 * cluster listens and the topics exist, then serves commands read from stdin,
 * one per line, answering each with exactly one line `OK ...` or `ERR reason`:
 *
 *   ping
 *   create-topic <name> <partitions>
 *   broker-down <id>                 (-1: every broker)
 *   broker-up <id>                   (-1: every broker)
 *   push-errors <apiKey> <count> <error>
 *   clear-errors <apiKey>
 *   rtt <broker id> <ms>             (-1: every broker)
 *   set-leader <topic> <partition> <broker id>
 *
 * <apiKey> is a protocol number (Produce = 0) or a name (Produce, Fetch, ...).
 * <error> is a Kafka error code (6, 7, -195 for a disconnect) or its librdkafka
 * name without the RD_KAFKA_RESP_ERR_ prefix (NOT_LEADER_FOR_PARTITION).
 *
 * Exits 0 after destroying the cluster on SIGTERM, SIGINT or end of stdin (so
 * it also goes away when the parent that holds the pipe dies).
 *
 * Facts about librdkafka 2.0.2's mock cluster that shape how it is used
 * (read from src/rdkafka_mock*.c at tag v2.0.2 and measured with kafkajs 2.2.4):
 *  - Broker ids are 1..N, but Metadata reports ControllerId 0 (the field is
 *    never assigned). kafkajs sends controller-only requests to broker 0 and
 *    fails with "Broker 0 not found in the cached metadata": admin.createTopics,
 *    createPartitions, deleteTopics, describeConfigs, and the idempotent
 *    producer's InitProducerId (so transactional producers fail at connect too).
 *    The mock implements no CreateTopics, ListGroups or DescribeGroups at all
 *    (kafkajs listGroups/describeGroups/deleteGroups: "does not support the
 *    requested API version").
 *  - A Metadata request naming an unknown topic auto-creates it when the
 *    request allows auto-creation, which kafkajs does by default (producer
 *    send, consumer subscribe, admin.fetchTopicMetadata), with
 *    defaults.partition_cnt = 4 partitions and replication factor min(3, N).
 *    Produce/Fetch on an unknown topic auto-create it with partition + 1
 *    partitions. Topics the worker relies on are therefore created here,
 *    explicitly, before any client connects.
 *  - broker-down closes the broker's connections and its listener (new
 *    connections are refused) but does NOT move partition leadership:
 *    partitions it leads are unavailable until broker-up (or set-leader).
 *    Partition leaders are picked at random at topic creation.
 *  - Consumer groups: the first join of an empty group waits 3 s (like
 *    group.initial.rebalance.delay.ms); any later rebalance waits up to the
 *    group's session timeout minus 1 s for members to rejoin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_LINE 4096
#define MAX_PUSHED_ERRORS 100000

static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int signo) {
        (void)signo;
        stop_requested = 1;
}

/* Protocol ApiKeys by name, for readable commands. */
static const struct {
        const char *name;
        int16_t key;
} api_keys[] = {
    {"Produce", 0},         {"Fetch", 1},
    {"ListOffsets", 2},     {"Metadata", 3},
    {"OffsetCommit", 8},    {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},      {"LeaveGroup", 13},
    {"SyncGroup", 14},      {"DescribeGroups", 15},
    {"ListGroups", 16},     {"ApiVersions", 18},
    {"CreateTopics", 19},   {"DeleteTopics", 20},
    {"InitProducerId", 22}, {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static void reply(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static int parse_long(const char *s, long min, long max, long *out) {
        char *end;
        long v;
        if (!s || !*s)
                return -1;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

static int parse_api_key(const char *s, int16_t *out) {
        long v;
        size_t i;
        if (parse_long(s, 0, SHRT_MAX, &v) == 0) {
                *out = (int16_t)v;
                return 0;
        }
        for (i = 0; s && i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
                if (!strcasecmp(s, api_keys[i].name)) {
                        *out = api_keys[i].key;
                        return 0;
                }
        }
        return -1;
}

static int parse_error_code(const char *s, rd_kafka_resp_err_t *out) {
        const struct rd_kafka_err_desc *descs;
        size_t cnt, i;
        long v;
        if (parse_long(s, SHRT_MIN, SHRT_MAX, &v) == 0) {
                *out = (rd_kafka_resp_err_t)v;
                return 0;
        }
        rd_kafka_get_err_descs(&descs, &cnt);
        for (i = 0; s && i < cnt; i++) {
                if (descs[i].name && !strcasecmp(s, descs[i].name)) {
                        *out = descs[i].code;
                        return 0;
                }
        }
        return -1;
}

static int broker_id_valid(long id, int broker_cnt) {
        return id == -1 || (id >= 1 && id <= broker_cnt);
}

static int create_topic(rd_kafka_mock_cluster_t *mcluster, int broker_cnt, const char *name,
                        long partitions, char *why, size_t why_size) {
        rd_kafka_resp_err_t err;
        if (!*name || partitions < 1 || partitions > 10000) {
                snprintf(why, why_size, "bad topic name or partition count");
                return -1;
        }
        err = rd_kafka_mock_topic_create(mcluster, name, (int)partitions,
                                         broker_cnt < 3 ? broker_cnt : 3);
        if (err) {
                snprintf(why, why_size, "%s", rd_kafka_err2str(err));
                return -1;
        }
        return 0;
}

/* Splits `line` on spaces into at most `max` words; returns the word count. */
static int split_words(char *line, char **words, int max) {
        int n = 0;
        char *save = NULL, *w;
        for (w = strtok_r(line, " \t\r", &save); w && n < max; w = strtok_r(NULL, " \t\r", &save))
                words[n++] = w;
        return w ? max + 1 : n;
}

static void handle_command(rd_kafka_mock_cluster_t *mcluster, int broker_cnt, char *line) {
        char *w[5];
        int n = split_words(line, w, 5);
        long a, b;
        int16_t api_key;
        rd_kafka_resp_err_t err;
        char why[256];

        if (n == 0) {
                reply("ERR empty command");
                return;
        }
        if (!strcmp(w[0], "ping") && n == 1) {
                reply("OK pong");
        } else if (!strcmp(w[0], "create-topic") && n == 3) {
                if (parse_long(w[2], 1, 10000, &a)) {
                        reply("ERR partitions must be an integer from 1 to 10000");
                        return;
                }
                if (create_topic(mcluster, broker_cnt, w[1], a, why, sizeof(why)))
                        reply("ERR %s", why);
                else
                        reply("OK created %s %ld", w[1], a);
        } else if ((!strcmp(w[0], "broker-down") || !strcmp(w[0], "broker-up")) && n == 2) {
                if (parse_long(w[1], -1, INT_MAX, &a) || !broker_id_valid(a, broker_cnt)) {
                        reply("ERR broker id must be -1 or 1..%d", broker_cnt);
                        return;
                }
                err = w[0][7] == 'd' ? rd_kafka_mock_broker_set_down(mcluster, (int32_t)a)
                                     : rd_kafka_mock_broker_set_up(mcluster, (int32_t)a);
                if (err)
                        reply("ERR %s", rd_kafka_err2str(err));
                else
                        reply("OK %s %ld", w[0], a);
        } else if (!strcmp(w[0], "push-errors") && n == 4) {
                rd_kafka_resp_err_t *errors;
                if (parse_api_key(w[1], &api_key)) {
                        reply("ERR unknown api key %s", w[1]);
                        return;
                }
                if (parse_long(w[2], 1, MAX_PUSHED_ERRORS, &a)) {
                        reply("ERR count must be an integer from 1 to %d", MAX_PUSHED_ERRORS);
                        return;
                }
                if (parse_error_code(w[3], &err)) {
                        reply("ERR unknown error code %s", w[3]);
                        return;
                }
                errors = malloc(sizeof(*errors) * (size_t)a);
                if (!errors) {
                        reply("ERR out of memory");
                        return;
                }
                for (b = 0; b < a; b++)
                        errors[b] = err;
                rd_kafka_mock_push_request_errors_array(mcluster, api_key, (size_t)a, errors);
                free(errors);
                reply("OK pushed %ld x %d on api %d", a, (int)err, (int)api_key);
        } else if (!strcmp(w[0], "clear-errors") && n == 2) {
                if (parse_api_key(w[1], &api_key)) {
                        reply("ERR unknown api key %s", w[1]);
                        return;
                }
                rd_kafka_mock_clear_request_errors(mcluster, api_key);
                reply("OK cleared api %d", (int)api_key);
        } else if (!strcmp(w[0], "rtt") && n == 3) {
                if (parse_long(w[1], -1, INT_MAX, &a) || !broker_id_valid(a, broker_cnt)) {
                        reply("ERR broker id must be -1 or 1..%d", broker_cnt);
                        return;
                }
                if (parse_long(w[2], 0, 3600000, &b)) {
                        reply("ERR rtt must be an integer number of milliseconds from 0 to 3600000");
                        return;
                }
                err = rd_kafka_mock_broker_set_rtt(mcluster, (int32_t)a, (int)b);
                if (err)
                        reply("ERR %s", rd_kafka_err2str(err));
                else
                        reply("OK rtt %ld %ld", a, b);
        } else if (!strcmp(w[0], "set-leader") && n == 4) {
                if (parse_long(w[2], 0, 9999, &a)) {
                        reply("ERR partition must be an integer from 0 to 9999");
                        return;
                }
                if (parse_long(w[3], -1, INT_MAX, &b) || !broker_id_valid(b, broker_cnt)) {
                        reply("ERR broker id must be -1 (no leader) or 1..%d", broker_cnt);
                        return;
                }
                err = rd_kafka_mock_partition_set_leader(mcluster, w[1], (int32_t)a, (int32_t)b);
                if (err)
                        reply("ERR %s", rd_kafka_err2str(err));
                else
                        reply("OK leader %s %ld %ld", w[1], a, b);
        } else {
                reply("ERR unknown command or wrong argument count: %s", w[0]);
        }
}

static void usage_and_exit(const char *why) {
        fprintf(stderr,
                "kafka-mock-broker: %s\n"
                "usage: kafka-mock-broker [--brokers N] [--topic name:partitions]...\n",
                why);
        exit(2);
}

/* Reads stdin in the main thread; returns at end of input or on a stop signal. */
static void serve_commands(rd_kafka_mock_cluster_t *mcluster, int broker_cnt) {
        char buf[MAX_LINE];
        size_t used       = 0;
        int discarding    = 0; /* inside an over-long line */
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};

        while (!stop_requested) {
                ssize_t r;
                char *nl;
                int ready = poll(&pfd, 1, 500);
                if (ready < 0 && errno == EINTR)
                        continue;
                if (ready < 0)
                        return;
                if (ready == 0)
                        continue;

                r = read(STDIN_FILENO, buf + used, sizeof(buf) - 1 - used);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return; /* end of stdin: the parent is gone or done */
                used += (size_t)r;
                buf[used] = '\0';

                while ((nl = memchr(buf, '\n', used))) {
                        size_t consumed = (size_t)(nl - buf) + 1;
                        *nl             = '\0';
                        if (discarding)
                                reply("ERR line too long");
                        else
                                handle_command(mcluster, broker_cnt, buf);
                        discarding = 0;
                        memmove(buf, nl + 1, used - consumed);
                        used -= consumed;
                        buf[used] = '\0';
                }
                if (used == sizeof(buf) - 1) {
                        discarding = 1;
                        used       = 0;
                }
        }
}

int main(int argc, char **argv) {
        long broker_cnt = 3;
        char errstr[512];
        char why[256];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;
        struct sigaction sa;
        sigset_t stop_signals;
        int i;

        /* If the parent dies without closing our stdin (it always does close it,
         * but belt and braces), stop too. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
                        if (parse_long(argv[++i], 1, 100, &broker_cnt))
                                usage_and_exit("--brokers must be an integer from 1 to 100");
                } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
                        i++; /* validated once the cluster exists */
                } else {
                        usage_and_exit("unknown or incomplete argument");
                }
        }

        /* librdkafka's threads inherit this mask, so the stop signals reach the
         * main thread, whose poll() they interrupt. */
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGTERM);
        sigaddset(&stop_signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

        conf = rd_kafka_conf_new();
        /* The handle only hosts the mock cluster; it never talks to a broker. */
        if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "kafka-mock-broker: %s\n", errstr);
                return 1;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "kafka-mock-broker: rd_kafka_new failed: %s\n", errstr);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, (int)broker_cnt);
        if (!mcluster) {
                fprintf(stderr, "kafka-mock-broker: rd_kafka_mock_cluster_new failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--topic")) {
                        char *spec = argv[++i];
                        char *colon = strrchr(spec, ':');
                        long partitions;
                        if (!colon || colon == spec || parse_long(colon + 1, 1, 10000, &partitions)) {
                                fprintf(stderr, "kafka-mock-broker: --topic wants name:partitions, got %s\n",
                                        spec);
                                rd_kafka_mock_cluster_destroy(mcluster);
                                rd_kafka_destroy(rk);
                                return 2;
                        }
                        *colon = '\0';
                        if (create_topic(mcluster, (int)broker_cnt, spec, partitions, why, sizeof(why))) {
                                fprintf(stderr, "kafka-mock-broker: cannot create topic %s: %s\n", spec, why);
                                rd_kafka_mock_cluster_destroy(mcluster);
                                rd_kafka_destroy(rk);
                                return 1;
                        }
                } else if (!strcmp(argv[i], "--brokers")) {
                        i++;
                }
        }

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        /* A reader that went away must not kill us mid-reply with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);

        reply("READY %s", rd_kafka_mock_cluster_bootstraps(mcluster));

        serve_commands(mcluster, (int)broker_cnt);

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return 0;
}
