/* _dl_find_object for static musl programs.
 *
 * Debian's libgcc_eh.a (gcc 12, built against glibc >= 2.35) finds unwind
 * tables by calling glibc's _dl_find_object(pc, &result) and, when that
 * succeeds, parsing result.dlfo_eh_frame as the object's .eh_frame_hdr. It
 * does not fall back to dl_iterate_phdr itself, so without this function a
 * static musl program cannot link, and with a stub that fails every throw
 * ends in std::terminate.
 *
 * This version walks musl's dl_iterate_phdr, picks the object whose PT_LOAD
 * segments contain the address and returns its PT_GNU_EH_FRAME segment.
 * Static links must pass -Wl,--eh-frame-hdr so that the segment exists (the
 * toolchain wrappers do).
 *
 * Layout of struct dl_find_object as glibc declares it for x86-64, where
 * DLFO_STRUCT_HAS_EH_DBASE and DLFO_STRUCT_HAS_EH_COUNT are both 0.
 */
#define _GNU_SOURCE
#include <link.h>
#include <stddef.h>
#include <stdint.h>

struct dl_find_object {
  unsigned long long dlfo_flags;
  void *dlfo_map_start;
  void *dlfo_map_end;
  struct link_map *dlfo_link_map;
  void *dlfo_eh_frame;
  unsigned long long dlfo_reserved[7];
};

_Static_assert(offsetof(struct dl_find_object, dlfo_eh_frame) == 32,
               "glibc x86-64 layout");
_Static_assert(sizeof(struct dl_find_object) == 96, "glibc x86-64 layout");

int _dl_find_object(void *address, struct dl_find_object *result);

struct lookup {
  uintptr_t address;
  struct dl_find_object *result;
};

static int visit_object(struct dl_phdr_info *info, size_t size, void *data) {
  struct lookup *lookup = data;
  if (size < offsetof(struct dl_phdr_info, dlpi_phnum) + sizeof(info->dlpi_phnum))
    return 0;

  uintptr_t lowest = UINTPTR_MAX;
  uintptr_t highest = 0;
  int contains = 0;
  void *eh_frame_hdr = NULL;

  for (size_t i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *phdr = &info->dlpi_phdr[i];
    uintptr_t start = (uintptr_t)info->dlpi_addr + phdr->p_vaddr;
    if (phdr->p_type == PT_LOAD) {
      uintptr_t end = start + phdr->p_memsz;
      if (start < lowest) lowest = start;
      if (end > highest) highest = end;
      if (lookup->address >= start && lookup->address < end) contains = 1;
    } else if (phdr->p_type == PT_GNU_EH_FRAME) {
      eh_frame_hdr = (void *)start;
    }
  }
  if (!contains) return 0;

  struct dl_find_object *result = lookup->result;
  result->dlfo_flags = 0;
  result->dlfo_map_start = (void *)lowest;
  result->dlfo_map_end = (void *)highest;
  result->dlfo_link_map = NULL; /* musl has no link_map for static programs */
  result->dlfo_eh_frame = eh_frame_hdr;
  return 1; /* stop iterating */
}

/* Returns 0 and fills *result when an object holds address, -1 otherwise
 * (glibc's contract). */
int _dl_find_object(void *address, struct dl_find_object *result) {
  struct lookup lookup = {(uintptr_t)address, result};
  return dl_iterate_phdr(visit_object, &lookup) ? 0 : -1;
}
