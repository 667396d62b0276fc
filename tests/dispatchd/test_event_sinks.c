/* Unit tests for the process's event sinks (dispatch/event_sinks.c): the
 * listener count per name wakes the publisher's waker only when it goes
 * from none to one, never goes below zero, and frees its entry when nobody
 * is left; events and notes reach the sinks of their name only; a sink
 * added while its publisher sleeps is told so at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dispatch/event_sinks.h"

static int wakes;
static void on_wake(void *arg)
{
    (void)arg;
    wakes++;
}

typedef struct {
    size_t events;
    int notes[4];
    uint64_t gap;
} sink_seen;

static void on_events(void *arg, const dp_msg_event *evs, size_t n)
{
    (void)evs;
    ((sink_seen *)arg)->events += n;
}

static void on_note(void *arg, event_note note, uint64_t id)
{
    sink_seen *s = arg;
    s->notes[note]++;
    if (note == EVENT_SINKS_GAP)
        s->gap = id;
}

static void test_listeners_wake_once(void **state)
{
    (void)state;
    dp_err err = {0};
    wakes = 0;
    assert_int_equal(event_sinks_wanted("inproc://a"), 0);
    assert_int_equal(event_sinks_on_want("inproc://a", on_wake, NULL, &err), DP_OK);
    event_sinks_want("inproc://a", 1);
    assert_int_equal(wakes, 1);
    event_sinks_want("inproc://a", 1); /* 1 -> 2: the reader reads already */
    assert_int_equal(wakes, 1);
    assert_int_equal(event_sinks_wanted("inproc://a"), 2);
    event_sinks_want("inproc://b", 1); /* another name: another count, no waker */
    assert_int_equal(wakes, 1);
    assert_int_equal(event_sinks_wanted("inproc://b"), 1);
    event_sinks_want("inproc://a", -1);
    event_sinks_want("inproc://a", -1);
    event_sinks_want("inproc://a", -1); /* one too many: stays at zero */
    assert_int_equal(event_sinks_wanted("inproc://a"), 0);
    event_sinks_want("inproc://a", 1); /* none -> one again: woken again */
    assert_int_equal(wakes, 2);
    event_sinks_want("inproc://a", -1);
    event_sinks_want("inproc://b", -1);
    assert_int_equal(event_sinks_on_want("inproc://a", NULL, NULL, &err), DP_OK);
    event_sinks_want("inproc://a", 1); /* no waker any more */
    assert_int_equal(wakes, 2);
    event_sinks_want("inproc://a", -1);
    /* bad names: counted nowhere, refused by on_want */
    event_sinks_want("", 1);
    event_sinks_want(NULL, 1);
    assert_int_equal(event_sinks_wanted(""), 0);
    assert_int_equal(event_sinks_on_want("", on_wake, NULL, &err), DP_EINVAL);
}

static void test_entries_are_freed(void **state)
{
    (void)state;
    dp_err err = {0};
    /* far more names than the table holds, one after another: each entry is
     * freed when its last listener leaves */
    for (int i = 0; i < 10 * EVENT_SINKS_MAX; i++) {
        char name[32];
        snprintf(name, sizeof name, "inproc://n%d", i);
        event_sinks_want(name, 1);
        assert_int_equal(event_sinks_wanted(name), 1);
        event_sinks_want(name, -1);
    }
    assert_int_equal(event_sinks_on_want("inproc://last", on_wake, NULL, &err), DP_OK);
    assert_int_equal(event_sinks_on_want("inproc://last", NULL, NULL, &err), DP_OK);
}

static void test_events_and_notes_by_name(void **state)
{
    (void)state;
    dp_err err = {0};
    sink_seen a = {0}, b = {0};
    assert_int_equal(event_sinks_on_want("inproc://pub", on_wake, NULL, &err), DP_OK);
    assert_int_equal(event_sinks_add("inproc://pub", on_events, on_note, &a, &err), DP_OK);
    assert_int_equal(event_sinks_add("inproc://other", on_events, NULL, &b, &err), DP_OK);
    dp_msg_event evs[3] = {{0}};
    event_sinks_deliver("inproc://pub", evs, 3);
    event_sinks_note("inproc://pub", EVENT_SINKS_GAP, 42);
    assert_int_equal(a.events, 3);
    assert_int_equal(a.notes[EVENT_SINKS_GAP], 1);
    assert_int_equal(a.gap, 42);
    assert_int_equal(b.events, 0);
    /* the publisher sleeps: a sink added now is told at once */
    event_sinks_note("inproc://pub", EVENT_SINKS_ASLEEP, 0);
    assert_int_equal(a.notes[EVENT_SINKS_ASLEEP], 1);
    sink_seen c = {0};
    assert_int_equal(event_sinks_add("inproc://pub", on_events, on_note, &c, &err), DP_OK);
    assert_int_equal(c.notes[EVENT_SINKS_ASLEEP], 1);
    event_sinks_note("inproc://pub", EVENT_SINKS_CAUGHT_UP, 0);
    sink_seen d = {0};
    assert_int_equal(event_sinks_add("inproc://pub", on_events, on_note, &d, &err), DP_OK);
    assert_int_equal(d.notes[EVENT_SINKS_ASLEEP], 0); /* awake again: nothing to tell */
    event_sinks_remove(on_events, &a);
    event_sinks_deliver("inproc://pub", evs, 1);
    assert_int_equal(a.events, 3); /* removed: never called again */
    assert_int_equal(c.events, 1);
    event_sinks_remove(on_events, &b);
    event_sinks_remove(on_events, &c);
    event_sinks_remove(on_events, &d);
    assert_int_equal(event_sinks_on_want("inproc://pub", NULL, NULL, &err), DP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listeners_wake_once),
        cmocka_unit_test(test_entries_are_freed),
        cmocka_unit_test(test_events_and_notes_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
