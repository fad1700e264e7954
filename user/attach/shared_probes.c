// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "link_reaper.h"
#include "shared_probes.h"

int shared_probes__get(struct shared_probes *sp, struct gilwatch_bpf *skel,
		       const struct gw_target *t, struct shared_image **out)
{
	struct shared_image *img;
	struct stat st;
	size_t i;
	int err;

	*out = NULL;
	/* Through /proc/PID/root: the same file in every mount namespace. */
	if (stat(t->python_file, &st))
		return -errno;
	for (i = 0; i < sp->n; i++) {
		img = sp->images[i];
		if (img->dev == st.st_dev && img->ino == st.st_ino) {
			img->refs++;
			*out = img;
			return 0;
		}
	}
	if (sp->n == GW_MAX_PROCS)
		return -E2BIG;
	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	img->dev = st.st_dev;
	img->ino = st.st_ino;
	img->refs = 1;
	err = probe_plan__attach(skel, t, -1, sp->deep, true, &img->links, &img->found);
	if (err) {
		probe_links__release(&img->links);
		free(img);
		return err;
	}
	sp->images[sp->n++] = img;
	*out = img;
	return 0;
}

void shared_probes__put(struct shared_probes *sp, struct shared_image *img)
{
	size_t i;

	if (!img || --img->refs)
		return;
	for (i = 0; i < sp->n && sp->images[i] != img; i++)
		;
	if (i < sp->n)
		sp->images[i] = sp->images[--sp->n];
	link_reaper__take(sp->reaper, &img->links);
	free(img);
}

size_t shared_probes__count(const struct shared_probes *sp)
{
	return sp->n;
}
