// SPDX-License-Identifier: MIT
/* Container labels from /proc/PID/cgroup: real-world files of docker,
 * containerd and CRI-O under both cgroup versions and both cgroup drivers,
 * garbage, and this test process itself. Where a sample comes from a public
 * report or test suite, the comment names it; the others follow the same
 * layouts with ids of our own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cgroup_labels.h"

#define ID_A "31cb02944da7a12196a193cf0e0f6c226d7c453a1db62e65ba98287593a2ee30"
#define ID_B "9e5be931ec7edbc65dd2d67f55e4125e253e94430365dcaf01505cf5e187300a"
#define ID_C "0f2b016bbc95b352c2b4287b3b654cb234b95efdeea1b35a170a6ed572ac2692"
#define UID_DASH "3e9ee100-e307-4474-8c4c-e97428ebaacd"
#define UID_UNDER "3e9ee100_e307_4474_8c4c_e97428ebaacd"

/* Parses text and checks every field; runtime NULL means none. */
static void check(const char *text, const char *id, const char *pod, const char *runtime)
{
	struct container_labels l;
	int err;

	memset(&l, 0x5a, sizeof(l));
	err = cgroup_labels__parse(text, &l);
	if (err || strcmp(l.container_id, id) || strcmp(l.pod_uid, pod) ||
	    (runtime ? !l.runtime || strcmp(l.runtime, runtime) : l.runtime != NULL))
		fail_msg("err %d id '%s' pod '%s' runtime %s for:\n%s", err, l.container_id,
			 l.pod_uid, l.runtime ?: "(null)", text);
}

/* neuvector share/system/cgroup_test.go TestDockerIDUbuntu (trimmed). */
static void test_docker_cgroupfs_v1(void **state)
{
	check("12:name=systemd:/docker/" ID_A "\n"
	      "11:hugetlb:/docker/" ID_A "\n"
	      "4:memory:/docker/" ID_A "\n"
	      "2:cpu:/docker/" ID_A "\n"
	      "1:cpuset:/docker/" ID_A "\n",
	      ID_A, "", "docker");
}

/* neuvector TestDockerIDCentOS (trimmed): docker with the systemd driver. */
static void test_docker_systemd_v1(void **state)
{
	const char *id = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d";
	char text[1024];

	snprintf(text, sizeof(text),
		 "10:devices:/system.slice/docker-%s.scope\n"
		 "2:cpuacct,cpu:/system.slice/docker-%s.scope\n"
		 "1:name=systemd:/system.slice/docker-%s.scope\n",
		 id, id, id);
	check(text, id, "", "docker");
}

/* Docker on a cgroup v2 host with cgroupns=host, both drivers. */
static void test_docker_v2(void **state)
{
	check("0::/system.slice/docker-" ID_A ".scope\n", ID_A, "", "docker");
	check("0::/docker/" ID_A "\n", ID_A, "", "docker");
	/* systemd running inside the container */
	check("0::/system.slice/docker-" ID_A ".scope/init.scope\n", ID_A, "", "docker");
}

/* neuvector TestDockerIDRancherOS (trimmed): docker in docker, the inner one
 * counts.
 */
static void test_docker_in_docker(void **state)
{
	check("9:name=systemd:/docker/"
	      "a9a5ad238e59234193ee7ec3fcff5e735b3708ea1068826952255b69e3cfa413/docker/"
	      "ec08435e04266c5ba381fccbb829f626d11d8ddf5f8f547263c7a2d79ab4787a\n"
	      "8:memory:/docker/"
	      "a9a5ad238e59234193ee7ec3fcff5e735b3708ea1068826952255b69e3cfa413/docker/"
	      "ec08435e04266c5ba381fccbb829f626d11d8ddf5f8f547263c7a2d79ab4787a\n",
	      "ec08435e04266c5ba381fccbb829f626d11d8ddf5f8f547263c7a2d79ab4787a", "", "docker");
}

/* neuvector TestDockerIDKubepods (trimmed): kubelet's cgroupfs driver, a
 * besteffort pod. A bare id does not tell docker from containerd.
 */
static void test_kubepods_cgroupfs_besteffort(void **state)
{
	check("11:devices:/kubepods/besteffort/pod74ba62da-1a3d-11e7-bb11-080027cb0e22/"
	      "cb1eadb7abe3a6545e9856411207073277838e1bdc003337c2f8685faeedc32c\n"
	      "10:memory:/kubepods/besteffort/pod74ba62da-1a3d-11e7-bb11-080027cb0e22/"
	      "cb1eadb7abe3a6545e9856411207073277838e1bdc003337c2f8685faeedc32c\n"
	      "1:name=systemd:/kubepods/besteffort/pod74ba62da-1a3d-11e7-bb11-080027cb0e22/"
	      "cb1eadb7abe3a6545e9856411207073277838e1bdc003337c2f8685faeedc32c",
	      "cb1eadb7abe3a6545e9856411207073277838e1bdc003337c2f8685faeedc32c",
	      "74ba62da-1a3d-11e7-bb11-080027cb0e22", NULL);
}

/* Layout of open-telemetry/opentelemetry-java PR 4733 (containerd 1.6,
 * cgroupfs): a guaranteed pod has no QoS level. Also burstable, and v2.
 */
static void test_kubepods_cgroupfs_qos(void **state)
{
	check("12:memory:/kubepods/pod" UID_DASH "/" ID_B "\n", ID_B, UID_DASH, NULL);
	check("5:cpu,cpuacct:/kubepods/burstable/pod" UID_DASH "/" ID_B "\n", ID_B, UID_DASH, NULL);
	check("0::/kubepods/besteffort/pod" UID_DASH "/" ID_B "\n", ID_B, UID_DASH, NULL);
}

/* neuvector TestDockerIDKubepods2 (trimmed): dockershim, systemd driver. */
static void test_kubepods_systemd_docker(void **state)
{
	check("11:cpuset:/kubepods.slice/kubepods-besteffort.slice/"
	      "kubepods-besteffort-pod045b1e35_7f13_11e7_ac42_0050568ffca0.slice/"
	      "docker-b5b6f2da8008be266864f896f93789762b2ce50792114a5c5f2cc3315af0bc70.scope\n"
	      "1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/"
	      "kubepods-besteffort-pod045b1e35_7f13_11e7_ac42_0050568ffca0.slice/"
	      "docker-b5b6f2da8008be266864f896f93789762b2ce50792114a5c5f2cc3315af0bc70.scope",
	      "b5b6f2da8008be266864f896f93789762b2ce50792114a5c5f2cc3315af0bc70",
	      "045b1e35-7f13-11e7-ac42-0050568ffca0", "docker");
}

/* neuvector TestK8sBottleRocket (trimmed): containerd, systemd, cgroup v1. */
static void test_containerd_systemd_v1(void **state)
{
	check("11:cpuset:/kubepods.slice/kubepods-besteffort.slice/"
	      "kubepods-besteffort-poddd1bf9d1_241d_47f5_8e25_12de83135812.slice/"
	      "cri-containerd-f45298cd514d1930c4fe3afc4412e59547f7e3148fddd22ca33cefce046eb830."
	      "scope\n"
	      "5:memory:/kubepods.slice/kubepods-besteffort.slice/"
	      "kubepods-besteffort-poddd1bf9d1_241d_47f5_8e25_12de83135812.slice/"
	      "cri-containerd-f45298cd514d1930c4fe3afc4412e59547f7e3148fddd22ca33cefce046eb830."
	      "scope\n",
	      "f45298cd514d1930c4fe3afc4412e59547f7e3148fddd22ca33cefce046eb830",
	      "dd1bf9d1-241d-47f5-8e25-12de83135812", "containerd");
}

/* iovisor/kubectl-trace issue 174 (containerd path, as a v2 line), and a
 * guaranteed pod.
 */
static void test_containerd_systemd_v2(void **state)
{
	check("0::/kubepods.slice/kubepods-burstable.slice/"
	      "kubepods-burstable-pod40934a46_d409_4f4a_bb8b_1ec0b0436320.slice/"
	      "cri-containerd-afc114c69e71f18166abd63715398d7daa763c69a6454f71157272ab0bdca783."
	      "scope\n",
	      "afc114c69e71f18166abd63715398d7daa763c69a6454f71157272ab0bdca783",
	      "40934a46-d409-4f4a-bb8b-1ec0b0436320", "containerd");
	check("0::/kubepods.slice/kubepods-pod" UID_UNDER ".slice/cri-containerd-" ID_B ".scope\n",
	      ID_B, UID_DASH, "containerd");
}

/* open-telemetry/opentelemetry-java issue 4507 (trimmed): containerd's
 * "slice:cri-containerd:id", with and without the containerd.service parent.
 */
static void test_containerd_colon_form(void **state)
{
	const char *id = "ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459";

	check("11:perf_event:/kubepods-besteffort-pod0125ec2f_b64a_4868_8f5b_94b56cbab864.slice:"
	      "cri-containerd:ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459\n"
	      "10:blkio:/system.slice/containerd.service/"
	      "kubepods-besteffort-pod0125ec2f_b64a_4868_8f5b_94b56cbab864.slice:"
	      "cri-containerd:ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459\n",
	      id, "0125ec2f-b64a-4868-8f5b-94b56cbab864", "containerd");
	/* opentelemetry-java PR 4733: a guaranteed pod; elastic/apm-agent-nodejs
	 * issue 3550: a burstable one on name=systemd.
	 */
	check("11:devices:/system.slice/containerd.service/"
	      "kubepods-pod87a18a64_b74a_454a_b10b_a4a36059d0a3.slice:cri-containerd:"
	      "05c48c82caff3be3d7f1e896981dd410e81487538936914f32b624d168de9db0\n",
	      "05c48c82caff3be3d7f1e896981dd410e81487538936914f32b624d168de9db0",
	      "87a18a64-b74a-454a-b10b-a4a36059d0a3", "containerd");
	check("1:name=systemd:/system.slice/containerd.service/"
	      "kubepods-burstable-podff49d0be_16b7_4a49_bb9e_8ec1f1f4e27f.slice:cri-containerd:"
	      "0f99ad5f45163ed14ab8eaf92ed34bb4a631d007f8755a7d79be614bcb0df0ef",
	      "0f99ad5f45163ed14ab8eaf92ed34bb4a631d007f8755a7d79be614bcb0df0ef",
	      "ff49d0be-16b7-4a49-bb9e-8ec1f1f4e27f", "containerd");
	check("0::/system.slice/containerd.service/kubepods-burstable-pod" UID_UNDER
	      ".slice:cri-containerd:" ID_C "\n",
	      ID_C, UID_DASH, "containerd");
	/* The same form from CRI-O (containerd/nri PR 227) and docker. */
	check("0::/kubepods-burstable-pod" UID_UNDER ".slice:crio:" ID_C "\n", ID_C, UID_DASH,
	      "cri-o");
	check("0::/kubepods-pod" UID_UNDER ".slice:docker:" ID_C "\n", ID_C, UID_DASH, "docker");
	/* An unknown prefix or a bad id names no container. */
	check("0::/kubepods-pod" UID_UNDER ".slice:libpod:" ID_C "\n", "", UID_DASH, NULL);
	check("0::/kubepods-pod" UID_UNDER ".slice:cri-containerd:" ID_C "0\n", "", UID_DASH, NULL);
}

/* opencontainers/runc issue 4620 (trimmed): CRI-O, systemd, cgroup v1,
 * with a controller that stays at "/" first.
 */
static void test_crio_systemd_v1(void **state)
{
	check("13:freezer:/kubepods.slice/kubepods-burstable.slice/"
	      "kubepods-burstable-poda5c1f8d5_1919_434d_add7_4afaafdaef89.slice/"
	      "crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c.scope\n"
	      "11:files:/\n"
	      "10:hugetlb:/kubepods.slice/kubepods-burstable.slice/"
	      "kubepods-burstable-poda5c1f8d5_1919_434d_add7_4afaafdaef89.slice/"
	      "crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c.scope\n",
	      "5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c",
	      "a5c1f8d5-1919-434d-add7-4afaafdaef89", "cri-o");
}

/* kubectl-trace issue 174 (CRI-O path, as a v2 line); containerd/nri PR 227:
 * a CRI-O pod sandbox has no ".scope".
 */
static void test_crio_systemd_v2(void **state)
{
	check("0::/kubepods.slice/kubepods-burstable.slice/"
	      "kubepods-burstable-pod30cea2cf_1b80_4807_abad_d81453e199c5.slice/"
	      "crio-a8077b08a56c0c6e33d6716557d882ac940cb09475c50372e22e84c40d0733f2.scope\n",
	      "a8077b08a56c0c6e33d6716557d882ac940cb09475c50372e22e84c40d0733f2",
	      "30cea2cf-1b80-4807-abad-d81453e199c5", "cri-o");
	check("0::/kubepods.slice/kubepods-burstable.slice/"
	      "kubepods-burstable-pod35550f44_f691_427e_b57d_ab6127d2cb65.slice/"
	      "crio-468f848e2ebec7203ed55748d08337851af589ac42eb551c572446a5c68fe631\n",
	      "468f848e2ebec7203ed55748d08337851af589ac42eb551c572446a5c68fe631",
	      "35550f44-f691-427e-b57d-ab6127d2cb65", "cri-o");
}

/* cri-o/cri-o PR 812: with cgroupfs CRI-O names the cgroup crio-<id>. */
static void test_crio_cgroupfs(void **state)
{
	check("0::/kubepods/burstable/pod" UID_DASH "/crio-" ID_C "\n", ID_C, UID_DASH, "cri-o");
	check("4:memory:/kubepods/pod" UID_DASH "/crio-" ID_C "\n", ID_C, UID_DASH, "cri-o");
}

/* sustainable-computing-io/kepler issue 153: conmon is CRI-O's monitor in
 * the pod's slice, not the container. It keeps the pod, never an id.
 */
static void test_crio_conmon(void **state)
{
	check(
	    "1:name=systemd:/kubepods.slice/kubepods-burstable.slice/"
	    "kubepods-burstable-podb4e8e0dc_caf3_4a43_bf50_f84ef5ef7a8f.slice/"
	    "crio-conmon-927cffdca4f374600fe49a62bfd7f2e73ea6d37cdafb1bf8f89afb64d7e6c6a5.scope\n",
	    "", "b4e8e0dc-caf3-4a43-bf50-f84ef5ef7a8f", NULL);
	check("0::/kubepods/besteffort/pod" UID_DASH "/crio-conmon-" ID_C "\n", "", UID_DASH, NULL);
}

/* Kubernetes inside a docker container (kind, minikube): the node's
 * container above the pod is not the pod's. kind's --cgroup-root=/kubelet
 * prefixes the slice names; kubernetes/minikube issue 11280 shows CRI-O
 * under /docker/<node>/kubepods.slice.
 */
static void test_nested_node(void **state)
{
	check("0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	      "kubelet-kubepods-besteffort-pod" UID_UNDER ".slice/cri-containerd-" ID_B ".scope\n",
	      ID_B, UID_DASH, "containerd");
	check("0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" UID_UNDER
	      ".slice/cri-containerd-" ID_B ".scope\n",
	      ID_B, UID_DASH, "containerd");
	check("8:memory:/docker/d6701ec289c56e4391acb11d07474b3139466857a305490575508a8b7a9fcf22/"
	      "kubepods.slice/kubepods-besteffort.slice/"
	      "kubepods-besteffort-podae7a96fb_2bdc_46b0_96e2_78e4af94847b.slice/"
	      "crio-89e8f450417b56acf3089925dfd8f050dd50e950e18cfe83ea923269df601102.scope\n",
	      "89e8f450417b56acf3089925dfd8f050dd50e950e18cfe83ea923269df601102",
	      "ae7a96fb-2bdc-46b0-96e2-78e4af94847b", "cri-o");
	check("4:memory:/docker/" ID_A "/kubepods/besteffort/pod" UID_DASH "/" ID_B "\n", ID_B,
	      UID_DASH, NULL);
	/* A process in the pod's cgroup but in no container of it. */
	check("4:memory:/docker/" ID_A "/kubepods/besteffort/pod" UID_DASH "\n", "", UID_DASH,
	      NULL);
}

/* neuvector TestK8sProxyProcess (trimmed): a sub-cgroup below the container. */
static void test_below_container(void **state)
{
	check("10:memory:/kubepods/besteffort/podf8a694f2-7c08-11e9-98da-000c29077430/"
	      "c04e0a88a1de067f25bece337d4dbb897396e0b623c2a65330850fc9823f1903/kube-proxy\n",
	      "c04e0a88a1de067f25bece337d4dbb897396e0b623c2a65330850fc9823f1903",
	      "f8a694f2-7c08-11e9-98da-000c29077430", NULL);
}

/* Static pods have a 32-hex config hash, not a UUID, for a UID (netdata
 * issue 4868, cri-o issue 9082): no pod label, the container still counts.
 */
static void test_static_pod(void **state)
{
	check("0::/kubepods.slice/kubepods-burstable.slice/"
	      "kubepods-burstable-pod03671a0313f5acf27bef3683009923f8.slice/"
	      "cri-containerd-33b76b55c057401e680c81463a405421c2bf172c8fdc95d13715ac35126bf355."
	      "scope\n",
	      "33b76b55c057401e680c81463a405421c2bf172c8fdc95d13715ac35126bf355", "", "containerd");
}

/* neuvector TestHostProcess and TestNsEnterProcess, kepler issue 153
 * (containerd itself), and systemd hosts on v2.
 */
static void test_host(void **state)
{
	static const char *const texts[] = {
	    "0::/user.slice/user-0.slice/session-1.scope\n",
	    "0::/init.scope\n",
	    "0::/\n",
	    "0::/",
	    "0::/system.slice/containerd.service\n",
	    "0::/system.slice/docker.service\n",
	    "0::/kubepods.slice\n",
	    "0::/kubepods.slice/kubepods-burstable.slice\n",
	    "14:name=dsystemd:/\n13:name=systemd:/\n12:pids:/\n5:memory:/\n1:cpuset:/",
	    ("13:name=systemd:/user/1000.user/c2.session\n12:pids:/\n"
	     "11:hugetlb:/user/1000.user/c2.session\n1:cpuset:/\n"),
	    /* This machine's: a 32-hex job id is not a container id. */
	    "9:name=systemd:/\n4:memory:/process_api/cb299d0565778681bd69d54d477520ea\n0::/\n",
	};
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check(texts[i], "", "", NULL);
}

/* Of v1 lines, the first with a container wins even after pod-only ones;
 * a hybrid host's "0::" line may sit anywhere.
 */
static void test_v1_line_choice(void **state)
{
	check("12:pids:/\n"
	      "11:rdma:/kubepods/besteffort/pod" UID_DASH "\n"
	      "5:memory:/kubepods/besteffort/pod" UID_DASH "/" ID_B "\n"
	      "1:name=systemd:/kubepods/besteffort/pod" UID_DASH "/" ID_C "\n"
	      "0::/\n",
	      ID_B, UID_DASH, NULL);
	check("0::/\n"
	      "3:rdma:/\n"
	      "2:cpuset,cpu,cpuacct,memory:/system.slice/docker-" ID_A ".scope\n",
	      ID_A, "", "docker");
	check("2:cpu:/kubepods/pod" UID_DASH "\n1:name=systemd:/\n", "", UID_DASH, NULL);
}

static void test_bad_ids(void **state)
{
	/* 63 and 65 hex digits */
	check("0::/docker/31cb02944da7a12196a193cf0e0f6c226d7c453a1db62e65ba98287593a2ee3\n", "",
	      "", NULL);
	check("0::/docker/" ID_A "0\n", "", "", NULL);
	check("0::/system.slice/docker-31cb02944da7a12196a193cf0e0f6c226d7c453a1db62e65ba9828759"
	      "3a2ee3.scope\n",
	      "", "", NULL);
	/* Runtimes write lowercase only: uppercase hex is no id, not even in part. */
	check("0::/docker/31CB02944DA7A12196A193CF0E0F6C226D7C453A1DB62E65BA98287593A2EE30\n", "",
	      "", NULL);
	check("0::/docker/31cb02944da7a12196a193cf0e0f6c226d7c453a1db62e65ba98287593a2eE30\n", "",
	      "", NULL);
	check("0::/system.slice/docker-" ID_A "X.scope\n", "", "", NULL);
	check("0::/system.slice/docker-" ID_A ".scopex\n", "", "", NULL);
	check("0::/system.slice/docker_" ID_A ".scope\n", "", "", NULL);
	check("0::/system.slice/podman-" ID_A ".scope\n", "", "", NULL);
	/* Text after a valid id never reaches a label. */
	check("0::/system.slice/docker-" ID_A "\"} 1\n", "", "", NULL);
}

static void test_bad_pod_uids(void **state)
{
	static const char *const texts[] = {
	    /* wrong separator for the layout, or mixed */
	    "0::/kubepods/besteffort/pod" UID_UNDER "/" ID_B "\n",
	    "0::/kubepods.slice/kubepods-pod" UID_DASH ".slice/cri-containerd-" ID_B ".scope\n",
	    "0::/kubepods.slice/kubepods-pod3e9ee100_e307-4474_8c4c_e97428ebaacd.slice/"
	    "cri-containerd-" ID_B ".scope\n",
	    /* uppercase, too short, too long */
	    "0::/kubepods/besteffort/pod3E9EE100-e307-4474-8c4c-e97428ebaacd/" ID_B "\n",
	    "0::/kubepods/besteffort/pod3e9ee100-e307-4474-8c4c-e97428ebaac/" ID_B "\n",
	    "0::/kubepods/besteffort/pod3e9ee100-e307-4474-8c4c-e97428ebaacd0/" ID_B "\n",
	    /* not under a QoS level or kubepods */
	    "0::/somewhere/pod" UID_DASH "/" ID_B "\n",
	    "0::/kubepods/guaranteed/pod" UID_DASH "/" ID_B "\n",
	    "0::/system.slice/foo-pod" UID_UNDER ".slice/cri-containerd-" ID_B ".scope\n",
	    "0::/kubepods.slice/xkubepods-pod" UID_UNDER ".slice/cri-containerd-" ID_B ".scope\n",
	    "0::/kubepods.slice/kubepods-pod" UID_UNDER ".slic/cri-containerd-" ID_B ".scope\n",
	};
	struct container_labels l;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(cgroup_labels__parse(texts[i], &l), 0);
		if (l.pod_uid[0])
			fail_msg("pod '%s' from:\n%s", l.pod_uid, texts[i]);
		/* The container still counts. */
		assert_string_equal(l.container_id, ID_B);
	}
}

static void test_garbage(void **state)
{
	static const char *const bad[] = {
	    "",
	    "\n",
	    "\n\n\n",
	    "hello",
	    "0:",
	    "0::",
	    "0::\n",
	    "0::relative/" ID_A,
	    ":memory:/docker/" ID_A,
	    "x:memory:/docker/" ID_A,
	    "4 memory /docker/" ID_A,
	    "4:memory/docker/" ID_A,
	    "\x01\x02\xff\xfe",
	    "-1::/docker/" ID_A,
	};
	struct container_labels l;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&l, 0x5a, sizeof(l));
		if (cgroup_labels__parse(bad[i], &l) != -EINVAL)
			fail_msg("accepted: '%s'", bad[i]);
		assert_string_equal(l.container_id, "");
		assert_string_equal(l.pod_uid, "");
		assert_null(l.runtime);
	}
	/* Garbage lines around a good one; no final newline; empty components.
	 * The kernel never writes "\r": it is part of the last component.
	 */
	check("garbage\n\x01\x02\n9:memory\n4:memory:/docker/" ID_A "\nmore garbage", ID_A, "",
	      "docker");
	check("1:name=systemd:/docker/" ID_A, ID_A, "", "docker");
	check("1:name=systemd://docker//" ID_A "//", ID_A, "", "docker");
	check("0::/docker/" ID_A "\r\n", "", "", NULL);
	check("0::/../../kubepods/besteffort/pod" UID_DASH "/" ID_B, ID_B, UID_DASH, NULL);
}

/* A megabyte-long line: hundreds of components, one huge one, then an id. */
static void test_long_lines(void **state)
{
	const size_t len = 1 << 20;
	char *text = malloc(len + 128), *p;
	size_t i;

	assert_non_null(text);
	p = text + sprintf(text, "0::");
	for (i = 0; i < 1000; i++)
		p += sprintf(p, "/pod" UID_DASH);
	*p++ = '/';
	while (p < text + len - 80)
		*p++ = 'a';
	sprintf(p, "/docker/" ID_A);
	check(text, ID_A, "", "docker");
	/* One 1 MiB component of hex digits is no id. */
	memset(text + 4, 'a', len);
	memcpy(text, "0::/", 4);
	text[len + 4] = '\0';
	check(text, "", "", NULL);
	free(text);
}

static void test_read_self(void **state)
{
	struct container_labels l, want;
	char text[16384];
	size_t n;
	FILE *f;

	f = fopen("/proc/self/cgroup", "re");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	print_message("/proc/self/cgroup:\n%s", text);

	assert_int_equal(cgroup_labels__read(getpid(), &l), 0);
	assert_int_equal(cgroup_labels__parse(text, &want), 0);
	assert_string_equal(l.container_id, want.container_id);
	assert_string_equal(l.pod_uid, want.pod_uid);
	assert_ptr_equal(l.runtime, want.runtime);
	print_message("container '%s' pod '%s' runtime %s\n", l.container_id, l.pod_uid,
		      l.runtime ?: "(none)");
}

static void test_read_gone(void **state)
{
	struct container_labels l;
	pid_t child;
	int status;

	memset(&l, 0x5a, sizeof(l));
	assert_int_equal(cgroup_labels__read(INT_MAX, &l), -ESRCH);
	assert_string_equal(l.container_id, "");
	assert_null(l.runtime);
	assert_int_equal(cgroup_labels__read(0, &l), -EINVAL);
	assert_int_equal(cgroup_labels__read(-1, &l), -EINVAL);

	/* A child that has exited and been reaped. */
	child = fork();
	assert_true(child >= 0);
	if (!child)
		_exit(0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(cgroup_labels__read(child, &l), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_docker_cgroupfs_v1),
	    cmocka_unit_test(test_docker_systemd_v1),
	    cmocka_unit_test(test_docker_v2),
	    cmocka_unit_test(test_docker_in_docker),
	    cmocka_unit_test(test_kubepods_cgroupfs_besteffort),
	    cmocka_unit_test(test_kubepods_cgroupfs_qos),
	    cmocka_unit_test(test_kubepods_systemd_docker),
	    cmocka_unit_test(test_containerd_systemd_v1),
	    cmocka_unit_test(test_containerd_systemd_v2),
	    cmocka_unit_test(test_containerd_colon_form),
	    cmocka_unit_test(test_crio_systemd_v1),
	    cmocka_unit_test(test_crio_systemd_v2),
	    cmocka_unit_test(test_crio_cgroupfs),
	    cmocka_unit_test(test_crio_conmon),
	    cmocka_unit_test(test_nested_node),
	    cmocka_unit_test(test_below_container),
	    cmocka_unit_test(test_static_pod),
	    cmocka_unit_test(test_host),
	    cmocka_unit_test(test_v1_line_choice),
	    cmocka_unit_test(test_bad_ids),
	    cmocka_unit_test(test_bad_pod_uids),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_read_self),
	    cmocka_unit_test(test_read_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
