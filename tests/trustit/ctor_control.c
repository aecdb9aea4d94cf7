/*
 * Control for the constructor attack (trustit_ctor_*): loads an image with
 * dlopen in a plain process, as a loader that maps the image before
 * confining it would. The image's constructor then runs with the user's
 * full rights. usage: ctor_control <image.so>
 */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ctor_control <image.so>\n");
        return 2;
    }
    /* Lazy: the image's calls into the runtime are never made here. */
    void *h = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "ctor_control: %s\n", dlerror());
        return 1;
    }
    return 0;
}
