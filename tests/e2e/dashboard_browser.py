#!/usr/bin/python3
"""The dashboard driven as a person would, in Debian's headless Chromium
(chromium-driver + python3-selenium), against a real stack that
e2e_dashboard.sh started.

usage: dashboard_browser.py URL KEY XSS_JOB SIGNAL_DIR SHOTS_DIR SUBMIT_KEY

1. the key prompt: enter KEY; the live indicator must come on;
2. submit: two files (main.c and mul.h, one added and renamed in the tabs),
   profile c, two tests (one added), through the page;
3. the jobs list shows the job queued; this script writes
   SIGNAL_DIR/submitted (the job id) and only then does the shell start the
   runner, so the verdict can only reach the page through the live stream:
   it must turn AC in the list with no reload (a marker set on window
   survives) and no other navigation;
4. the job's page: per-test verdicts AC;
5. XSS_JOB (printed '<script>' and an <img onerror> and has such a test
   name): shown as text, no element made of it, no script ran;
6. runners and queue;
7. "Forget key", then SUBMIT_KEY (submit scope: the global stream is 403
   for it): the list is empty (nothing of the other key's stays), and a job
   submitted again reaches AC over the job's own stream.
A screenshot of each page goes to SHOTS_DIR. Exits non-zero naming the
first thing that went wrong."""
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

URL, KEY, XSS_JOB, SIGNAL_DIR, SHOTS, SUBMIT_KEY = sys.argv[1:7]
# Slack for a sanitized dispatchd, a cold gcc in the sandbox and a loaded
# 2-core machine: the steps take 1-10 s when the machine is idle.
STEP_S = 60
VERDICT_S = 120

MUL_H = 'static long mul(long a, long b)\n{\nreturn a * b;\n}\n'
MAIN_C = ('#include <stdio.h>\n#include "mul.h"\n\nint main(void)\n{\n'
          'long a, b;\nif (scanf("%ld %ld", &a, &b) != 2)\nreturn 1;\n'
          'printf("%ld\\n", mul(a, b));\nreturn 0;\n}\n')


def fail(msg):
    print('FAIL: ' + msg, file=sys.stderr)
    raise SystemExit(1)


def wait_for(what, fn, timeout=STEP_S):
    """Polls fn (every 0.1 s) until it returns something true."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the element is not there yet
            last = e
        time.sleep(0.1)
    fail(f'{what}: not within {timeout} s' + (f' ({last})' if last else ''))


def shot(d, name):
    path = os.path.join(SHOTS, name + '.png')
    d.save_screenshot(path)
    print(f'screenshot {path}')


def text(d, css):
    return d.find_element(By.CSS_SELECTOR, css).text


def main():
    os.makedirs(SHOTS, exist_ok=True)
    profile_dir = tempfile.mkdtemp(prefix='dash-chromium-')
    opts = webdriver.ChromeOptions()
    opts.binary_location = '/usr/bin/chromium'
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update', '--disable-sync',
              '--disable-dev-shm-usage', f'--user-data-dir={profile_dir}', '--window-size=1280,1000'):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    d = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=opts)
    try:
        run(d)
        logs = d.get_log('browser')
        for entry in logs:
            print('console:', entry.get('level'), entry.get('message'))
        # the CSP refusing any of the page's own code would be a bug
        refused = [e['message'] for e in logs if 'Content Security Policy' in e.get('message', '')]
        if refused:
            fail('CSP violations: ' + '; '.join(refused))
    finally:
        d.quit()


def run(d):
    d.get(URL + '/')
    # 1. the key prompt
    wait_for('the key prompt', lambda: d.find_element(By.ID, 'key-input').is_displayed())
    shot(d, '1-key')
    d.find_element(By.ID, 'key-input').send_keys(KEY)
    d.find_element(By.ID, 'key-submit').click()
    wait_for('the jobs view after the key', lambda: d.find_element(By.ID, 'view-jobs').is_displayed())
    if d.execute_script('return window.localStorage.length') != 0:
        fail('something was put in localStorage')
    if d.execute_script("return sessionStorage.getItem('dispatch.apiKey')") != KEY:
        fail('the key is not in sessionStorage')
    wait_for('the live indicator', lambda: text(d, '#live').startswith('live'))
    d.execute_script('window.__noReload = 42')  # a reload would lose it

    # 2. submit through the page
    d.find_element(By.ID, 'nav-submit').click()
    wait_for('the submit view', lambda: d.find_element(By.ID, 'view-submit').is_displayed())
    wait_for('the profile list', lambda: 'c' in [o.get_attribute('value') for o in
                                                 Select(d.find_element(By.ID, 'profile')).options])
    Select(d.find_element(By.ID, 'profile')).select_by_value('c')
    d.find_element(By.ID, 'file-add').click()
    name = d.find_element(By.ID, 'file-name')
    name.clear()
    name.send_keys('mul.h')
    d.find_element(By.ID, 'file-rename').click()
    wait_for('the renamed tab', lambda: d.find_element(By.CSS_SELECTOR, '#file-tabs [data-file="mul.h"]'))
    editor = d.find_element(By.ID, 'file-editor')
    editor.send_keys(MUL_H)
    d.find_element(By.CSS_SELECTOR, '#file-tabs [data-file="main.c"]').click()
    editor.clear()
    editor.send_keys(MAIN_C)
    rows = d.find_elements(By.CSS_SELECTOR, '#tests-body tr')
    if len(rows) != 1:
        fail(f'want one starter test row, got {len(rows)}')
    d.find_element(By.ID, 'test-add').click()
    rows = d.find_elements(By.CSS_SELECTOR, '#tests-body tr')
    for row, (stdin, want, score) in zip(rows, (('6 7\n', '42\n', '1'), ('3 4\n', '12\n', '2'))):
        for css, value in (('.t-stdin', stdin), ('.t-expected', want), ('.t-score', score)):
            box = row.find_element(By.CSS_SELECTOR, css)
            box.clear()
            box.send_keys(value)
    d.find_element(By.ID, 'lim-time_ms').send_keys('1500')
    d.find_element(By.ID, 'labels').send_keys('web, x86_64')  # the runner carries both
    d.find_element(By.CSS_SELECTOR, '#priority option[value="high"]').click()
    shot(d, '2-submit')
    d.find_element(By.ID, 'submit-button').click()

    # 3. the jobs list: queued, then AC through the live stream alone
    wait_for('the jobs view after submit', lambda: d.find_element(By.ID, 'view-jobs').is_displayed())
    # the C job (the list may also hold the HTML-printing bash job, listed
    # by GET /api/v1/jobs where the server has it)
    row = wait_for('the new job row', lambda: [r for r in d.find_elements(By.CSS_SELECTOR, '#jobs-body tr[data-job-id]')
                                               if r.find_element(By.CSS_SELECTOR, '.profile').text == 'c'])[0]
    job = row.get_attribute('data-job-id')
    state = row.find_element(By.CSS_SELECTOR, '.state').text
    if state != 'queued':  # no runner runs yet: it cannot be anything else
        fail(f'job {job}: state {state!r} before any runner')
    with open(os.path.join(SIGNAL_DIR, 'submitted.tmp'), 'w') as f:
        f.write(job)
    os.rename(os.path.join(SIGNAL_DIR, 'submitted.tmp'), os.path.join(SIGNAL_DIR, 'submitted'))
    print(f'submitted {job} through the page; waiting for its verdict live')
    sel = f'#jobs-body tr[data-job-id="{job}"]'
    wait_for(f'job {job}: verdict AC in the jobs list without a reload',
             lambda: d.find_element(By.CSS_SELECTOR, sel + ' .verdict').text == 'AC', VERDICT_S)
    wait_for(f'job {job}: score', lambda: d.find_element(By.CSS_SELECTOR, sel + ' .score').text == '100')
    if d.execute_script('return window.__noReload') != 42:
        fail('the page was reloaded')
    if not d.current_url.endswith('#/jobs'):
        fail(f'navigated away: {d.current_url}')
    shot(d, '3-jobs')

    # 4. its page
    d.find_element(By.CSS_SELECTOR, sel + ' a').click()
    wait_for('the job page', lambda: d.find_element(By.ID, 'view-job').is_displayed())
    wait_for('two test rows', lambda: len(d.find_elements(By.CSS_SELECTOR, '#job-tests-body tr[data-test]')) == 2)
    verdicts = [e.text for e in d.find_elements(By.CSS_SELECTOR, '#job-tests-body tr[data-test] .verdict')]
    if verdicts != ['AC', 'AC']:
        fail(f'per-test verdicts {verdicts}')
    outs = [e.get_attribute('textContent') for e in d.find_elements(By.CSS_SELECTOR, '#job-outputs pre.stdout')]
    if outs != ['42\n', '12\n']:
        fail(f'stdout excerpts {outs!r}')
    wait_for('the log', lambda: d.find_element(By.ID, 'job-log').get_attribute('textContent').strip() not in ('', 'no log yet'))
    routing = (d.find_element(By.CSS_SELECTOR, '#job-summary .f-labels dd').text,
               d.find_element(By.CSS_SELECTOR, '#job-summary .f-priority dd').text)
    if routing != ('web, x86_64', 'high'):
        fail(f'job page labels/priority {routing!r}')
    shot(d, '4-job')

    # 5. untrusted output is text
    title = d.title
    d.get(URL + '/#/jobs/' + XSS_JOB)
    wait_for('the XSS job page', lambda: d.find_element(By.ID, 'job-title').text == XSS_JOB)
    wait_for('its test row', lambda: d.find_elements(By.CSS_SELECTOR, '#job-tests-body tr[data-test]'))
    out = wait_for('its stdout', lambda: d.find_element(By.CSS_SELECTOR, '#job-outputs pre.stdout').get_attribute('textContent'))
    if '<script>window.__xss=1</script>' not in out or '<img src=x onerror=' not in out:
        fail(f'stdout not shown as text: {out!r}')
    name = d.find_element(By.CSS_SELECTOR, '#job-tests-body tr[data-test] .name').text
    if '<img src=x onerror=' not in name:
        fail(f'test name not shown as text: {name!r}')
    made = d.execute_script("return document.querySelectorAll('main script, main img, main iframe').length")
    if made != 0:
        fail(f'{made} element(s) made of job output')
    if d.execute_script('return window.__xss') is not None or d.title != title:
        fail('a script from job output ran')
    shot(d, '5-job-untrusted-output')

    # 6. runners and queue
    d.find_element(By.ID, 'nav-fleet').click()
    wait_for('the runner row', lambda: d.find_element(By.CSS_SELECTOR, '#runners-body tr[data-runner-id] .name').text == 'dash')
    wait_for('the queue figures', lambda: d.find_element(By.CSS_SELECTOR, '#queue-figures .q-completed dd').text not in ('', '–'))
    shot(d, '6-fleet')

    # 7. a submit-scope key: its own jobs, followed one by one
    d.find_element(By.ID, 'forget-key').click()
    wait_for('the key prompt again', lambda: d.find_element(By.ID, 'key-input').is_displayed())
    if d.execute_script("return sessionStorage.getItem('dispatch.apiKey')") is not None:
        fail('the key is still in sessionStorage after Forget key')
    d.find_element(By.ID, 'key-input').send_keys(SUBMIT_KEY)
    d.find_element(By.ID, 'key-submit').click()
    wait_for('the per-job live mode', lambda: text(d, '#live') == 'live (own jobs)')
    if d.find_elements(By.CSS_SELECTOR, '#jobs-body tr'):
        fail('the other key\'s jobs are still listed')
    d.find_element(By.ID, 'nav-submit').click()
    wait_for('the submit view', lambda: d.find_element(By.ID, 'view-submit').is_displayed())
    d.find_element(By.ID, 'submit-button').click()
    row = wait_for('the submit key\'s job row', lambda: d.find_elements(By.CSS_SELECTOR, '#jobs-body tr[data-job-id]'))[0]
    mine = row.get_attribute('data-job-id')
    if mine == job:
        fail('the submit key\'s row is the admin\'s job')
    wait_for(f'job {mine}: AC for the submit key', lambda: d.find_element(
        By.CSS_SELECTOR, f'#jobs-body tr[data-job-id="{mine}"] .verdict').text == 'AC', VERDICT_S)
    if d.execute_script('return window.__noReload') != 42:
        fail('the page was reloaded')
    shot(d, '7-jobs-submit-key')
    print('dashboard: key, submit, live verdict, job page, untrusted output, fleet, submit-scope key: ok')


if __name__ == '__main__':
    main()
