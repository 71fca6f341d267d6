# The C core for projects that do not use SwiftPM (Make, CMake, vendoring).
#
#   make                      .build-make/libinterruptio.a, libinterruptio.so
#                             and interruptio.pc
#   make install PREFIX=DIR   headers, libraries and pkg-config file under DIR
#   make check                the shared library exports exactly the public
#                             headers' functions; a program built against the
#                             installed library (pkg-config, shared and
#                             static) runs and its deadline fires
#
# Deadlines in a process without Swift are fired by the core's own timer
# thread, started on first use: nothing to call. No -D flags are needed.
CC ?= cc
AR ?= ar
PREFIX ?= /usr/local
CFLAGS ?= -O2 -g
OUT := .build-make
SRCDIR := Sources/CInterruptIO
VERSION := $(shell sed -n 's/^\#define IIO_VERSION_STRING "\(.*\)"/\1/p' $(SRCDIR)/include/interruptio.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
SOURCES := $(wildcard $(SRCDIR)/*.c) $(wildcard $(SRCDIR)/*.S)
OBJECTS := $(patsubst $(SRCDIR)/%,$(OUT)/obj/%.o,$(SOURCES))
FLAGS := -std=c11 -Wall -Wextra -fPIC -pthread -I$(SRCDIR)/include $(CFLAGS)

all: $(OUT)/libinterruptio.a $(OUT)/libinterruptio.so $(OUT)/interruptio.pc

$(OUT)/obj/%.o: $(SRCDIR)/% $(wildcard $(SRCDIR)/*.h $(SRCDIR)/include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(FLAGS) -c $< -o $@

$(OUT)/libinterruptio.a: $(OBJECTS)
	rm -f $@
	$(AR) rcs $@ $^

$(OUT)/libinterruptio.so: $(OBJECTS)
	$(CC) -shared -pthread -Wl,-soname,libinterruptio.so.$(SOMAJOR) $^ -o $@

# Written again by every make: the prefix it names is this make's PREFIX.
$(OUT)/interruptio.pc: FORCE
	@mkdir -p $(OUT)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: interruptio' \
	  'Description: Blocking I/O system calls that another thread can cancel, with deadlines' \
	  'Version: $(VERSION)' \
	  'Libs: -L$${libdir} -linterruptio' 'Libs.private: -pthread' \
	  'Cflags: -I$${includedir} -pthread' > $@

install: all
	install -d $(PREFIX)/include $(PREFIX)/lib/pkgconfig
	install -m 644 $(SRCDIR)/include/interruptio.h $(SRCDIR)/include/interruptio_driver.h $(PREFIX)/include/
	install -m 644 $(OUT)/libinterruptio.a $(PREFIX)/lib/
	install -m 755 $(OUT)/libinterruptio.so $(PREFIX)/lib/libinterruptio.so.$(VERSION)
	ln -sf libinterruptio.so.$(VERSION) $(PREFIX)/lib/libinterruptio.so.$(SOMAJOR)
	ln -sf libinterruptio.so.$(SOMAJOR) $(PREFIX)/lib/libinterruptio.so
	install -m 644 $(OUT)/interruptio.pc $(PREFIX)/lib/pkgconfig/

check: all
	bash Tests/Make/check-exports.sh $(OUT)/libinterruptio.so
	bash Tests/Make/check-install.sh

clean:
	rm -rf $(OUT)

.PHONY: all install check clean FORCE
FORCE:
