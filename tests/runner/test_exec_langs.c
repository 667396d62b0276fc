/* Every shipped language profile end to end, with the real toolchains (from
 * Debian's packages, installed by ./dev) and the real sandbox: per language
 * an AC, a WA, a CE (where the language compiles), an RE, a TLE and an MLE
 * program get their verdicts; then the hostile cases the issue names (a Java
 * program that forks without end, a Go program with 10,000 goroutines, a
 * Node program that allocates without bound) stay contained: a bounded
 * verdict, nothing of the slot's uid left running, an empty workdir.
 *
 * The problem: read two integers, print their sum. MLE jobs lower the memory
 * limit to 64 MiB and TLE jobs the CPU limit to 1 s, to keep the test short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/exec/exec.h"
#include "tests/runner/helpers.h"

static char root[64], work[96];
static exec_ctx *ctx;
static int zip_counter;
static int slot;

typedef struct {
    const char *profile;
    const char *file;
    const char *ac, *wa, *ce, *re, *tle, *mle; /* ce NULL: no compile stage */
} lang;

static const lang langs[] = {
    {"c", "main.c",
     "#include <stdio.h>\nint main(void){long a,b;if(scanf(\"%ld %ld\",&a,&b)!=2)return 1;"
     "printf(\"%ld\\n\",a+b);return 0;}\n",
     "#include <stdio.h>\nint main(void){long a,b;if(scanf(\"%ld %ld\",&a,&b)!=2)return 1;"
     "printf(\"%ld\\n\",a*b);return 0;}\n",
     "int main(void){ return undeclared_name; }\n",
     "int main(void){volatile int *p=0;*p=1;return 0;}\n",
     "int main(void){volatile unsigned long x=0;for(;;)x++;}\n",
     "#include <stdlib.h>\nint main(void){for(;;){volatile char*p=malloc(1<<20);if(!p)return 3;"
     "for(int i=0;i<(1<<20);i+=4096)p[i]=1;}}\n"},
    {"cpp17", "main.cpp",
     "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n",
     "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a*b<<\"\\n\";}\n",
     "#include <optional>\nint main(){ std::optional<int> o; return undeclared_name; }\n",
     "#include <stdexcept>\nint main(){ throw std::runtime_error(\"boom\"); }\n",
     "int main(){volatile unsigned long x=0;for(;;)x++;}\n",
     "#include <vector>\nint main(){std::vector<char*> v;for(;;){char*p=new char[1<<20];"
     "for(int i=0;i<(1<<20);i+=4096)p[i]=1;v.push_back(p);}}\n"},
    {"java", "Main.java",
     "import java.util.*;\npublic class Main{public static void main(String[] a){"
     "Scanner s=new Scanner(System.in);long x=s.nextLong(),y=s.nextLong();"
     "System.out.println(x+y);}}\n",
     "import java.util.*;\npublic class Main{public static void main(String[] a){"
     "Scanner s=new Scanner(System.in);long x=s.nextLong(),y=s.nextLong();"
     "System.out.println(x*y);}}\n",
     "public class Main{public static void main(String[] a){int x = \"not an int\";}}\n",
     "public class Main{public static void main(String[] a){int[] z=new int[1];z[2]=1;}}\n",
     "public class Main{public static void main(String[] a){long x=0;"
     "while(true){x++;if(x==-1)System.out.println(x);}}}\n",
     "import java.util.*;\npublic class Main{public static void main(String[] a){"
     "List<long[]> l=new ArrayList<>();while(true)l.add(new long[1<<17]);}}\n"},
    {"go", "main.go",
     "package main\nimport \"fmt\"\nfunc main(){var a,b int64;fmt.Scan(&a,&b);fmt.Println(a+b)}\n",
     "package main\nimport \"fmt\"\nfunc main(){var a,b int64;fmt.Scan(&a,&b);fmt.Println(a*b)}\n",
     "package main\nfunc main(){ unused := 1 }\n",
     "package main\nfunc main(){var m map[string]int; m[\"a\"]=1}\n",
     "package main\nvar x int\nfunc main(){for{x++}}\n",
     "package main\nvar keep [][]byte\nfunc main(){for{b:=make([]byte,1<<20);"
     "for i:=range b{b[i]=1};keep=append(keep,b)}}\n"},
    {"rust", "main.rs",
     "use std::io::Read;\nfn main(){let mut s=String::new();"
     "std::io::stdin().read_to_string(&mut s).unwrap();"
     "let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();"
     "println!(\"{}\",v[0]+v[1]);}\n",
     "use std::io::Read;\nfn main(){let mut s=String::new();"
     "std::io::stdin().read_to_string(&mut s).unwrap();"
     "let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();"
     "println!(\"{}\",v[0]*v[1]);}\n",
     "fn main(){ let x: i32 = \"not an int\"; }\n",
     "fn main(){ let v: Vec<i32> = Vec::new(); let i = std::env::args().count() + 5; "
     "println!(\"{}\", v[i]); }\n",
     "fn main(){ let mut x = 0u64; loop { unsafe { "
     "std::ptr::write_volatile(&mut x, std::ptr::read_volatile(&x) + 1); } } }\n",
     "fn main(){ let mut v: Vec<Vec<u8>> = Vec::new(); loop { v.push(vec![1u8; 1 << 20]); } }\n"},
    {"javascript", "main.js",
     "const d=require('fs').readFileSync(0,'utf8').trim().split(/\\s+/).map(Number);"
     "console.log(d[0]+d[1]);\n",
     "const d=require('fs').readFileSync(0,'utf8').trim().split(/\\s+/).map(Number);"
     "console.log(d[0]*d[1]);\n",
     NULL, "throw new Error('boom');\n", "let x=0;for(;;){x++;}\n",
     /* 16 MiB at a time: in 1 MiB steps node's growth near the 64 MiB limit
      * was slow enough for the kernel to keep reclaiming its file pages
      * instead of stopping it, until the CPU limit came first (TLE on a
      * loaded machine) */
     "const a=[];for(;;){a.push(Buffer.alloc(16<<20,1));}\n"},
    {"python3", "main.py", "a, b = map(int, input().split())\nprint(a + b)\n",
     "a, b = map(int, input().split())\nprint(a * b)\n", NULL, "print(1 // 0)\n",
     "while True:\n    pass\n", "a = []\nwhile True:\n    a.append(bytearray(b'x' * (1 << 20)))\n"},
    {"bash", "main.sh", "read a b\necho $((a + b))\n", "read a b\necho $((a * b))\n", NULL,
     "exit 3\n", "while :; do :; done\n", "x=aaaaaaaaaaaaaaaa\nwhile :; do x=$x$x; done\n"},
};

static int group_setup(void **state)
{
    (void)state;
    /* a slot of our own: concurrent runs of the suite on one host must not
     * share the slot uid (RLIMIT_NPROC counts every thread of that uid) */
    slot = 20 + (int)(getpid() % 40); /* 20..59: below test_hostile's 100..971 */
    ctx = th_exec_open("exec-langs", slot, root);
    if (ctx == NULL)
        return -1;
    snprintf(work, sizeof work, "%s/work", root);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_exec_close(ctx, root);
    return 0;
}

/* Processes on the host owned by the slot's uid (60000 + slot). */
static int slot_processes(void)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char p[300];
        struct stat st;
        snprintf(p, sizeof p, "/proc/%s", e->d_name);
        if (stat(p, &st) == 0 && st.st_uid == (uid_t)(60000 + slot))
            n++;
    }
    closedir(d);
    return n;
}

/* Judges one program of lang l; tests: "2 3" -> 5 and "40 2" -> 42. */
static void judge_src(const lang *l, const char *src, dp_job_spec *spec, dp_job_result *res,
                      int n_tests)
{
    char path[128], url[160];
    snprintf(path, sizeof path, "%s/sub%d.zip", root, zip_counter++);
    th_entry e[] = {{l->file, src, 0, 0}};
    th_zip(path, e, 1);
    snprintf(url, sizeof url, "file://%s", path);
    th_spec(spec, l->profile, url);
    th_spec_test(spec, "t1", "2 3\n", "5\n");
    if (n_tests > 1)
        th_spec_test(spec, "t2", "40 2\n", "42\n");
    int retry = -1;
    dp_err err;
    assert_int_equal(exec_job(ctx, spec, 1, res, &retry, &err), 0);
    assert_int_equal(th_dir_count(work), 0);
    assert_int_equal(slot_processes(), 0);
}

static void expect(const lang *l, const char *what, const char *src, dp_verdict want,
                   uint32_t time_ms, uint64_t memory_kb)
{
    dp_job_spec spec;
    dp_job_result res;
    memset(&spec, 0, sizeof spec);
    char path[128], url[160];
    snprintf(path, sizeof path, "%s/sub%d.zip", root, zip_counter++);
    th_entry e[] = {{l->file, src, 0, 0}};
    th_zip(path, e, 1);
    snprintf(url, sizeof url, "file://%s", path);
    th_spec(&spec, l->profile, url);
    th_spec_test(&spec, "t1", "2 3\n", "5\n");
    if (want == DP_VERDICT_AC || want == DP_VERDICT_WA)
        th_spec_test(&spec, "t2", "40 2\n", "42\n");
    spec.limits.time_ms = time_ms;
    spec.limits.memory_kb = memory_kb;
    int retry = -1;
    dp_err err;
    assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, &err), 0);
    if (res.verdict != want) {
        print_message("%s %s: message: %s\nlog:\n%s\n", l->profile, what,
                      res.message ? res.message : "-", res.log ? res.log : "-");
        fail_msg("%s %s: verdict %s, wanted %s", l->profile, what,
                 dp_verdict_name(res.verdict) ? dp_verdict_name(res.verdict) : "none",
                 dp_verdict_name(want));
    }
    assert_int_equal(retry, 0);
    assert_int_equal(th_dir_count(work), 0);
    assert_int_equal(slot_processes(), 0);
    if (want == DP_VERDICT_AC)
        assert_true(res.score == 100.0);
    if (want == DP_VERDICT_WA) /* 2+3 != 2*3 and 40+2 != 40*2: both wrong */
        assert_int_equal(res.tests[0].verdict, DP_VERDICT_WA);
    if (want == DP_VERDICT_CE) {
        assert_non_null(res.message);
        /* the compiler's complaint reaches the message */
        assert_true(strstr(res.message, "setup command") != NULL);
        assert_true(strlen(res.message) > 60);
    }
    /* the 1 s CPU limit, or on a loaded machine the profile's wall limit
     * (5-8 s) when the program gets less than 1/5 of a core */
    if (want == DP_VERDICT_TLE)
        assert_non_null(strstr(res.log, "time limit"));
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_lang(void **state)
{
    const lang *l = *state;
    expect(l, "AC", l->ac, DP_VERDICT_AC, 0, 0);
    expect(l, "WA", l->wa, DP_VERDICT_WA, 0, 0);
    if (l->ce != NULL)
        expect(l, "CE", l->ce, DP_VERDICT_CE, 0, 0);
    expect(l, "RE", l->re, DP_VERDICT_RE, 0, 0);
    expect(l, "TLE", l->tle, DP_VERDICT_TLE, 1000, 0);
    /* the JVM needs ~40 MiB beside its heap (60% of the limit): 128 MiB */
    expect(l, "MLE", l->mle, DP_VERDICT_MLE, 0,
           strcmp(l->profile, "java") == 0 ? 128 * 1024 : 64 * 1024);
}

static const lang *find(const char *profile)
{
    for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++)
        if (strcmp(langs[i].profile, profile) == 0)
            return &langs[i];
    return NULL;
}

/* Bounded: a verdict that says a limit stopped it. */
static void hostile(const char *profile, const char *src, const dp_verdict *ok, size_t n_ok)
{
    const lang *l = find(profile);
    dp_job_spec spec;
    dp_job_result res;
    judge_src(l, src, &spec, &res, 1);
    int good = 0;
    for (size_t i = 0; i < n_ok; i++)
        good |= res.verdict == ok[i];
    if (!good) {
        print_message("%s hostile: message: %s\nlog:\n%s\n", profile,
                      res.message ? res.message : "-", res.log ? res.log : "-");
        fail_msg("%s hostile: verdict %s", profile,
                 dp_verdict_name(res.verdict) ? dp_verdict_name(res.verdict) : "none");
    }
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

/* Starts child processes until something stops it: the pids limit makes
 * ProcessBuilder fail, the program keeps trying; CPU/wall ends it. */
static void test_java_forks(void **state)
{
    (void)state;
    const char *src =
        "import java.util.*;\npublic class Main{public static void main(String[] a)"
        "throws Exception{List<Process> l=new ArrayList<>();long fails=0;"
        "while(true){try{l.add(new ProcessBuilder(\"/bin/sh\",\"-c\",\"sleep 100\").start());}"
        "catch(Exception e){fails++;}}}}\n";
    const dp_verdict ok[] = {DP_VERDICT_TLE, DP_VERDICT_MLE, DP_VERDICT_RE};
    hostile("java", src, ok, 3);
}

/* 10,000 goroutines sleeping at once: the Go runtime parks them on a few
 * threads, so the run fits the process limit and answers. */
static void test_go_goroutines(void **state)
{
    (void)state;
    const char *src = "package main\nimport (\"fmt\";\"sync\";\"time\")\n"
                      "func main(){var a,b int64;fmt.Scan(&a,&b);var wg sync.WaitGroup;"
                      "var mu sync.Mutex;n:=int64(0);for i:=0;i<10000;i++{wg.Add(1);"
                      "go func(){defer wg.Done();time.Sleep(200*time.Millisecond);mu.Lock();n++;"
                      "mu.Unlock()}()};wg.Wait();if n==10000{fmt.Println(a+b)}}\n";
    const dp_verdict ok[] = {DP_VERDICT_AC};
    hostile("go", src, ok, 1);
}

/* The V8 heap grown without bound: V8 does not know the cgroup's limit
 * (its own heap cap is sized from the host's memory), so the memory cgroup
 * stops it. In 8 MB arrays, so the limit comes within a fraction of a
 * second of CPU: small objects got there only after seconds of garbage
 * collection near the limit, and on a loaded machine the CPU limit (TLE)
 * sometimes came first (a verdict that depended on timing). */
static void test_node_allocates(void **state)
{
    (void)state;
    const char *src = "const a=[];for(;;){a.push(new Array(1000000).fill(1.5));}\n";
    const dp_verdict ok[] = {DP_VERDICT_MLE};
    hostile("javascript", src, ok, 1);
}

int main(void)
{
    struct CMUnitTest tests[sizeof langs / sizeof langs[0] + 3];
    size_t n = 0;
    for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++) {
        tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate(test_lang, (void *)&langs[i]);
        tests[n].name = langs[i].profile;
        n++;
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_java_forks);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_go_goroutines);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_node_allocates);
    return _cmocka_run_group_tests("exec_langs", tests, n, group_setup, group_teardown);
}
