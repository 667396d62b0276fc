read a b
printf "%d   %d  \n\n%d\n" "$a" "$b" $((a + b))
